"""Offline plan: run the real Pulumi program under recording mocks in preview mode and report every
resource `pulumi up` would create. No cloud, CLI or provider plugin involved; computed values stay unknown.

Modules: `model` (Plan, PlannedResource, markers), `recorder` (PlanRecorder, the mock monitor),
`runner` (run_program), `render` (the printed tree), `inventory` (golden summaries),
`key_inputs` (what summarises each resource type), `command` (`infgw plan`). Nothing is re-exported
here so that `infgw --help` does not load the Pulumi SDK.
"""
