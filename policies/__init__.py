"""The infgw guardrail pack: Pulumi policies for the GKE Inference Gateway, runnable offline too.

Rules live in modules by concern (gke, networking, fleet, inference, workloads, stack); ``pack`` lists
them; ``offline`` runs them without the Pulumi CLI; ``__main__`` only serves them to ``pulumi preview``.
"""
