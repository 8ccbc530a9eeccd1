"""Asking one resolver one question, one module per transport; DNS outcomes are data, not exceptions."""
