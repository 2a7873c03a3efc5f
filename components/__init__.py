"""Pulumi components of the GKE Inference Gateway and the stack config they are built from.

Import what you need from its module (`components.region.Region`, `components.config.load_stack_config`);
this package stays import-light so config validation runs before the cloud SDKs load.
"""
