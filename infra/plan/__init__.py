"""The offline plan: the real program under Pulumi's mock runtime, rendered like `pulumi preview`."""
