"""NATS JetStream adapters of the scale-out topology (docs/architecture.md, "Scale-out")."""
