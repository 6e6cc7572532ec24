"""`dr journal verify|init-key|anchor|setup-postgres`: the journal itself, and its proof."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from orchestrator.cli.console import console, print_json
from orchestrator.cli.options import DbOption, JsonOption, open_existing_journal, open_journal
from orchestrator.errors import EXIT_FAILED, UserInputError

if TYPE_CHECKING:
    from orchestrator.inventory import Inventory
    from orchestrator.journal import ChainVerdict, Journal

app = typer.Typer(help="The journal itself: its key, its proof, its anchors.", no_args_is_help=True)

InventoryOpt = Annotated[
    Path | None,
    typer.Option(
        "--inventory",
        "-i",
        help="Inventory whose journal: section names the key and the anchors.",
        show_default=False,
    ),
]
AnchorOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--anchor",
        help="Check against this kind of the inventory's anchors only: s3 or ssh_file "
        "(repeatable; default: both).",
        show_default=False,
    ),
]
AnchorFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--anchor-file", help="Also check against an anchor saved in this file (one JSON line)."
    ),
]


@app.command("verify")
def verify(
    db: DbOption = None,
    inventory: InventoryOpt = None,
    anchor: AnchorOpt = None,
    anchor_file: AnchorFileOpt = None,
    json_out: JsonOption = False,
) -> None:
    """Prove the chain under the key, and the database against its newest anchors.

    Exits 1 and says what was found (an edited, truncated or replaced history) when
    anything does not verify."""
    from orchestrator.anchors.check import Finding

    inv = _load(inventory)
    journal = open_existing_journal(db, inv.journal.key if inv else None)
    verdict = journal.verify()
    checked, findings, notes = _against_anchors(journal, inv, anchor, anchor_file)
    if not verdict.ok and verdict.reason:
        findings.insert(0, Finding("chain", _chain_text(verdict)))
    ok = verdict.ok and not findings
    if json_out:
        print_json(console, _document(journal, verdict, checked, findings, notes, ok))
    else:
        _print(journal, verdict, checked, findings, notes)
    if not ok:
        raise typer.Exit(EXIT_FAILED)


@app.command("init-key")
def init_key(
    path: Annotated[
        Path | None,
        typer.Option(
            "--path", help="Where (default: DR_JOURNAL_KEY, else ~/.config/dr/journal.key)."
        ),
    ] = None,
) -> None:
    """Create this host's journal key (0600); an existing key is never overwritten."""
    from orchestrator.journal.key import create_key_file, key_location

    if path is None:
        ref = key_location(None)
        if ref.kind != "file":
            raise UserInputError(
                f"DR_JOURNAL_KEY is {ref}: init-key writes a file; give --path, or point "
                "DR_JOURNAL_KEY at a file"
            )
        path = ref.path
    key = create_key_file(path)
    console.print(
        f"journal key written to {escape(str(path))} (key id {key.key_id}); back it up "
        f"where the database's administrators cannot read it / 日志密钥已写入，密钥编号 "
        f"{key.key_id}；请另行备份，勿让数据库管理员读取"
    )


@app.command("anchor")
def anchor_now(
    inventory: Annotated[
        Path, typer.Option("--inventory", "-i", help="Inventory whose journal.anchors to write.")
    ],
    db: DbOption = None,
    json_out: JsonOption = False,
) -> None:
    """Write the journal's head to every anchor place now (as the scheduler does)."""
    from orchestrator.anchors.write import anchor_journal

    inv = _load(inventory)
    assert inv is not None
    if not inv.journal.anchors:
        raise UserInputError(f"{inventory}: journal.anchors names no place to anchor to")
    results = anchor_journal(open_existing_journal(db, inv.journal.key), inv)
    if json_out:
        print_json(console, [r.to_dict() for r in results])
    for r in results if not json_out else []:
        colour = "green" if r.ok else "red"
        state = "anchored / 已锚定" if r.ok else f"FAILED / 失败: {escape(r.error or '')}"
        console.print(f"[{colour}]{r.place}[/] {escape(r.where)} seq {r.seq}: {state}")
    if not all(r.ok for r in results):
        raise typer.Exit(EXIT_FAILED)


@app.command("setup-postgres")
def setup_postgres(
    writer: Annotated[
        str, typer.Option("--writer", help="The role dr writes with (may not change events).")
    ],
    db: DbOption = None,
) -> None:
    """On PostgreSQL: the writer may INSERT and SELECT events, never UPDATE or DELETE;
    a trigger refuses both even to the owner. Run once, as the tables' owner."""
    from orchestrator.journal.append_only import protect_events

    journal = open_journal(db)
    done = protect_events(journal, writer)
    for line in done:
        console.print(escape(line))


def _load(path: Path | None) -> Inventory | None:
    if path is None:
        return None
    from orchestrator.inventory import load_inventory

    return load_inventory(path)


def _against_anchors(
    journal: Journal, inv: Inventory | None, kinds: list[str] | None, anchor_file: Path | None
) -> tuple[list[dict[str, Any]], list[Any], list[str]]:
    """(anchors checked, findings, notes) for the chosen places."""
    from orchestrator.anchors.check import Finding, check_against
    from orchestrator.anchors.places import AnchorPlaceError, read_s3, read_ssh_file
    from orchestrator.anchors.record import Anchor
    from orchestrator.text import Text
    from orchestrator.transports.ssh import SshTransport

    wanted = set(kinds or ("s3", "ssh_file"))
    if wanted - {"s3", "ssh_file"}:
        raise UserInputError("--anchor takes s3 or ssh_file")
    if kinds and inv is None:
        raise UserInputError("--anchor needs --inventory (its journal.anchors name the places)")
    checked: list[dict[str, Any]] = []
    findings: list[Finding] = []
    notes: list[str] = []
    found: list[tuple[str, Anchor | None]] = []
    with SshTransport() as ssh:
        for place in inv.journal.anchors if inv else []:
            if place.kind not in wanted:
                continue
            where = _where(place)
            try:
                if place.s3 is not None:
                    read = read_s3(place.s3)
                else:
                    assert place.ssh_file is not None and inv is not None
                    read = read_ssh_file(place.ssh_file, inv, ssh)
            except (AnchorPlaceError, UserInputError) as err:
                findings.append(
                    Finding(
                        "unreadable",
                        Text(
                            zh=f"无法读取锚点：{err.message}",
                            en=f"anchor unreadable: {err.message}",
                        ),
                    )
                )
                continue
            found.append((where, read))
    if anchor_file is not None:
        text = anchor_file.read_text(encoding="utf-8").strip().splitlines()[-1]
        found.append((str(anchor_file), Anchor.parse(text, str(anchor_file))))
    for where, anchor in found:
        if anchor is None:
            notes.append(f"{where}: no anchor yet / 尚无锚点")
            continue
        checked.append({"where": where, "seq": anchor.seq, "hash": anchor.hash, "at": anchor.at})
        findings += check_against(journal, anchor, where)
    return checked, findings, notes


def _where(place: Any) -> str:
    if place.s3 is not None:
        return f"s3://{place.s3.bucket}/{place.s3.prefix}"
    return f"{place.ssh_file.host}:{place.ssh_file.path}"


def _chain_text(verdict: ChainVerdict) -> Any:
    from orchestrator.text import Text

    return Text(
        zh=f"哈希链在第 {verdict.first_bad_seq} 条事件处断裂：{verdict.reason}",
        en=f"the chain breaks at event {verdict.first_bad_seq}: {verdict.reason}",
    )


def _strength(verdict: ChainVerdict) -> str:
    if verdict.keyed:
        prefix = f", the first {verdict.unkeyed} events unkeyed" if verdict.unkeyed else ""
        return f"keyed (hmac-sha256, key {verdict.key_id}{prefix})"
    if verdict.key_id and verdict.keyed_from:
        return f"MACs not checked: no key in hand (the journal's key is {verdict.key_id})"
    return "unkeyed (sha256): tamper-evident only against accidents / 无密钥，仅能发现意外损坏"


def _print(
    journal: Journal,
    verdict: ChainVerdict,
    checked: list[dict[str, Any]],
    findings: list[Any],
    notes: list[str],
) -> None:
    if verdict.ok:
        console.print(
            f"[green]journal intact[/]: {verdict.checked} events, head "
            f"{verdict.head_hash[:16]}… ({journal.describe()}); {_strength(verdict)}"
        )
    else:
        console.print(
            f"[bold red]journal broken at event {verdict.first_bad_seq}[/]: "
            f"{escape(verdict.reason)} ({verdict.checked} events verified before it)"
        )
    for anchor in checked:
        console.print(
            f"checked against the anchor in {escape(anchor['where'])} (seq {anchor['seq']})"
        )
    for note in notes:
        console.print(f"[yellow]{escape(note)}[/]")
    for finding in findings:
        if finding.kind == "chain":
            continue
        console.print(
            f"[bold red]{finding.kind}[/]: {escape(finding.text.en)}\n    {escape(finding.text.zh)}"
        )
    if findings:
        console.print("[bold red]journal NOT verified / 日志校验未通过[/]")


def _document(
    journal: Journal,
    verdict: ChainVerdict,
    checked: list[dict[str, Any]],
    findings: list[Any],
    notes: list[str],
    ok: bool,
) -> dict[str, Any]:
    return {
        "ok": ok,
        "checked": verdict.checked,
        "head_hash": verdict.head_hash,
        "first_bad_seq": verdict.first_bad_seq,
        "reason": verdict.reason,
        "algorithm": verdict.algorithm,
        "key_id": verdict.key_id,
        "keyed_from": verdict.keyed_from,
        "journal_id": journal.journal_id(),
        "journal": journal.describe(),
        "anchors": checked,
        "findings": [f.to_dict() for f in findings],
        "notes": notes,
    }
