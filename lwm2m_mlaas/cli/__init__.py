"""The mlaas command line."""
