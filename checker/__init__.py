"""blockaudit: check that ISP resolvers block what court orders require."""

__version__ = "0.1.0"
