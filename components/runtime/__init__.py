"""Pulumi runtime helpers the components share: child options that carry a component's `depends_on`, and
a Kubernetes object that reads back its status."""
