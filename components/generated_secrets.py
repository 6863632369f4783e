"""GeneratedSecrets: the stack's secret values, made by the engine when the stack file sets none.

A cloud stack's first `up` needs a CockroachDB backup passphrase, and nobody should have to run
`openssl rand` and `pulumi config set --secret` before it. Unless the stack file carries a `secure:`
`micro-infra:backupPassphrase` (which always wins), a pulumi-random RandomPassword makes one. Its
`result` is a secret output of the provider (pulumi_random marks `result` and `bcryptHash` as
additional secret outputs), so it lives in state only encrypted by the stack's secrets provider,
and the resource is protected: replacing it would make every existing backup unreadable.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_random as random

PASSPHRASE_LENGTH = 48
"""Letters and digits only (62 symbols): 48 of them are ~285 bits, and nothing needs SQL or shell quoting."""


@dataclass(frozen=True)
class GeneratedSecretsArgs:
    backup_passphrase: pulumi.Output[str] | None
    """The stack's `secure:` micro-infra:backupPassphrase; None makes one."""


class GeneratedSecrets(pulumi.ComponentResource):
    backup_passphrase: pulumi.Output[str]
    """Encrypts CockroachDB backups; always a Pulumi secret."""
    generated: tuple[str, ...]
    """Which values the engine made (the rest came from the stack file)."""

    def __init__(self, name: str, args: GeneratedSecretsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("micro-infra:generated_secrets:GeneratedSecrets", name, None, opts)
        if args.backup_passphrase is not None:
            self.backup_passphrase = pulumi.Output.secret(args.backup_passphrase)
            self.generated = ()
        else:
            password = random.RandomPassword(
                f"{name}-backup-passphrase",
                random.RandomPasswordArgs(length=PASSPHRASE_LENGTH, special=False),
                pulumi.ResourceOptions(parent=self, protect=True),
            )
            self.backup_passphrase = pulumi.Output.secret(password.result)
            self.generated = ("backupPassphrase",)
        self.register_outputs({"backupPassphrase": self.backup_passphrase})
