"""Pure values and rules, no I/O: LwM2M itself (paths, nodes, object model, codecs,
registration, Object 5) and the records the other layers share (artifacts, deliveries,
devices and rollouts, signing keys, typed changes)."""
