"""Fleet policy: provisioning on registration, OTA delivery of model packages over object 5,
staged rollouts, and which package signing key each device trusts."""
