import click
from flask import current_app
from flask.cli import AppGroup

from codes import export, keys
from codes.models import Batch
from codes.verify import gs1_fields
from db import session_scope


@click.group("codes", cls=AppGroup, help="Code batches: export for the printing house.")
def codes_group():
    pass


@codes_group.command("export")
@click.argument("batch_id")
@click.option(
    "--out", "out_path", required=True, type=click.Path(dir_okay=False, writable=True), help="CSV file to write."
)
@click.option("--from", "first", type=click.IntRange(min=0), default=None, help="First serial (default: the batch's).")
@click.option("--to", "last", type=click.IntRange(min=0), default=None, help="Last serial (default: the batch's).")
@click.option("--processes", type=click.IntRange(min=0), default=0, help="Worker processes (0: one per core).")
def export_command(batch_id, out_path, first, last, processes):
    """Write BATCH_ID's codes as CSV (serial,token,url) to --out, with a progress bar. URLs start with
    PUBLIC_BASE_URL; `token` is what the trace and QR endpoints take (for GS1 codes, the whole URI)."""
    with session_scope() as session:
        batch = session.get(Batch, batch_id)
        if batch is None:
            raise click.BadParameter(f"no batch {batch_id}", param_hint="BATCH_ID")
        first = batch.serial_from if first is None else first
        last = batch.serial_to if last is None else last
        if not batch.serial_from <= first <= last <= batch.serial_to:
            raise click.UsageError(f"--from/--to must lie within {batch.serial_from}..{batch.serial_to}, in order")
        _, secret = keys.secret_for(session, batch.key_id)
        gs1, key_id = gs1_fields(session, batch), batch.key_id
    total = last - first + 1
    rows = export.csv_rows(secret, key_id, current_app.config["PUBLIC_BASE_URL"], first, last, gs1, processes)
    with open(out_path, "wb") as fh, click.progressbar(length=total, label=f"Exporting {total:,} codes") as bar:
        for chunk in rows:
            fh.write(chunk)
            bar.update(chunk.count(b"\n") - (1 if chunk.startswith(b"serial,") else 0))
    click.echo(f"wrote {total:,} codes to {out_path}")
