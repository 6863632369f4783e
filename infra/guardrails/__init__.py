"""Guardrails over the offline plan: the policy pack's rules (`infra check`) and manifest rendering (`infra render`)."""
