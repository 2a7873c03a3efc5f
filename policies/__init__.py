"""The infgw guardrail pack: Pulumi policies for the GKE Inference Gateway, runnable offline too. Rules live
in modules by concern; ``pack`` lists them; ``offline`` runs them without the CLI; ``__main__`` serves them.
"""
