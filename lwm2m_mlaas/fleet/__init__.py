"""Fleet policy: provisioning on registration and OTA delivery of model packages."""
