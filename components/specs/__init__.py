"""Pure builders of what the components create: typed pulumi-kubernetes Args, CRD specs, command lines,
budgets and names, computed from the validated config. No resources are registered here, so each is
tested as plain data."""
