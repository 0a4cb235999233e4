"""lwm2m-mlaas: TinyML as-a-Service over LwM2M."""

__version__ = "0.1.0"
