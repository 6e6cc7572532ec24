"""`dr backup rewind SET -i INVENTORY --to TIME --key-id REF --secret-key REF`: an S3
repository brought back to what it held at TIME (backups.s3_rewind), after a compromised
host deleted or overwrote its objects. Run from the backup room with its own key, never
the database host's (which may not delete versions, and so cannot undo a delete marker).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

import typer
from rich.markup import escape

from orchestrator.cli.console import console, print_json
from orchestrator.cli.find_clean_cmd import parse_time
from orchestrator.cli.options import DbOption, InventoryOption, JsonOption, open_journal
from orchestrator.errors import UserInputError
from orchestrator.inventory import BackupSet, Inventory, PitrBackupSet, SecretRef, load_inventory
from orchestrator.shown_times import shown_time, zone_of


def _reference(text: str, option: str) -> SecretRef:
    try:
        return SecretRef.parse(text)
    except ValueError:
        raise UserInputError(
            f"{option} takes a reference, env:NAME or file:PATH, never the key itself"
        ) from None


def rewind(
    name: Annotated[str, typer.Argument(help="Backup set name (backup_sets[].name).")],
    inventory: InventoryOption,
    to: Annotated[
        str,
        typer.Option(
            "--to", help="The moment to go back to (before the attack), inventory time zone."
        ),
    ],
    key_id: Annotated[
        str, typer.Option("--key-id", help="The backup room's S3 key id: env:NAME or file:PATH.")
    ],
    secret_key: Annotated[
        str, typer.Option("--secret-key", help="Its secret: env:NAME or file:PATH.")
    ],
    repository: Annotated[
        str | None,
        typer.Option(
            "--repository",
            help="postgres-pitr: the S3 repository's number (default: the only one); "
            "restic: main (default) or copy.",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would change.")] = False,
    db: DbOption = None,
    json_out: JsonOption = False,
) -> None:
    """Bring an S3 repository back to what it held at --to: delete markers laid since then
    removed, objects overwritten since then written again, objects added since hidden.
    Nothing is destroyed: a rewind to the wrong moment is undone by another one."""
    from backups.s3_rewind import rewind as rewind_bucket

    loaded = load_inventory(inventory)
    moment = parse_time(to, loaded.timezone, "--to")
    keys = (_reference(key_id, "--key-id"), _reference(secret_key, "--secret-key"))
    access, prefix, where = _bucket(loaded, name, repository, keys)
    result = rewind_bucket(access, prefix, moment, dry_run=dry_run)
    document = {"backup_set": name, "repository": where, **result.to_dict()}
    if not dry_run:
        open_journal(db).append("backup.rewound", data=document)
    if json_out:
        print_json(console, document)
        return
    verb = "would change" if dry_run else "changed"
    console.print(
        f"{escape(where)}: {result.objects} objects, {verb} {result.changed} "
        f"({result.markers_removed} delete markers removed, {result.rewritten} written "
        f"again, {result.hidden} hidden), back to {shown_time(result.moment, zone_of(loaded))}"
    )
    for line in result.changes:
        console.print(f"  {escape(line)}", highlight=False)


def _bucket(
    inventory: Inventory, name: str, wanted: str | None, keys: tuple[SecretRef, SecretRef]
) -> tuple[Any, str, str]:
    found = inventory.any_backup_set(name)
    if isinstance(found, PitrBackupSet):
        return _pitr_bucket(found, wanted, keys)
    return _restic_bucket(found, wanted, keys)


def _pitr_bucket(
    bset: PitrBackupSet, wanted: str | None, keys: tuple[SecretRef, SecretRef]
) -> tuple[Any, str, str]:
    from backups.pitr.buckets import bucket_access, repository_prefix, s3_repositories

    choices = s3_repositories(bset)
    if wanted is not None:
        choices = [(n, r) for n, r in choices if str(n) == wanted]
    if len(choices) != 1:
        numbers = ", ".join(str(n) for n, _ in s3_repositories(bset)) or "none"
        raise UserInputError(
            f"backup set {bset.name}: name one S3 repository with --repository "
            f"(its S3 repositories: {numbers})"
        )
    number, repo = choices[0]
    access = bucket_access(repo, access_key_id=keys[0], secret_access_key=keys[1])
    return access, repository_prefix(repo), f"repo{number} s3://{repo.bucket}{repo.path}"


def _restic_bucket(
    bset: BackupSet, wanted: str | None, keys: tuple[SecretRef, SecretRef]
) -> tuple[Any, str, str]:
    from backups.s3_bucket import BucketAccess
    from orchestrator.inventory import resolve_secret

    if wanted not in (None, "main", "copy"):
        raise UserInputError("--repository for a restic set is main or copy")
    target = bset.copy_to if wanted == "copy" else bset.main_repository
    if target is None or not target.repository.startswith("s3:"):
        raise UserInputError(f"backup set {bset.name}: that repository is not in S3")
    parts = urlsplit(target.repository.removeprefix("s3:"))
    bucket, _, prefix = parts.path.strip("/").partition("/")
    region = (target.s3.region if target.s3 else None) or "us-east-1"
    access = BucketAccess(
        endpoint_url=f"{parts.scheme}://{parts.netloc}",
        bucket=bucket,
        region=region,
        access_key_id=resolve_secret(keys[0]),
        secret_access_key=resolve_secret(keys[1]),
        # restic addresses any S3 that is not AWS by path, as here.
        path_style="amazonaws.com" not in parts.netloc,
    )
    return access, f"{prefix}/" if prefix else "", target.repository
