"""ccxt-backed gateways; the only package that imports ccxt."""
