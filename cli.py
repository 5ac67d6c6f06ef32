"""unmark's command line: parse, call the pipeline, print. No logic lives here."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:  # `python cli.py` from a checkout, without installing
    sys.path.insert(0, str(ROOT))

from pipeline.errors import InputError  # noqa: E402
from pipeline.ui import console  # noqa: E402
from pipeline.ui.command_support import (  # noqa: E402
    EXIT_FAILED,
    check_device,
    note_lossy,
    one_line_errors,
    prepare,
    write_report,
)

if TYPE_CHECKING:  # job.py loads the numeric stack: commands that fit nothing must not
    from pipeline.job import JobResult

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Remove watermarks with a Deep Image Prior, at full resolution.",
)


@app.callback()
def unmark() -> None:
    """Remove watermarks with a Deep Image Prior, at full resolution."""


@app.command()
def remove(
    image: Annotated[Path, typer.Argument(help="The watermarked photo.")],
    mask: Annotated[
        Path | None, typer.Option("--mask", "-m", help="Mask: black = remove, white = keep.")
    ] = None,
    template: Annotated[
        Path | None, typer.Option("--template", "-t", help="RGBA image of the watermark.")
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Where to write (default NAME.clean.EXT)."),
    ] = None,
    preset: Annotated[str, typer.Option(help="default | quality | fast | reference")] = "default",
    steps: Annotated[int | None, typer.Option(min=0, help="Optimiser steps per region.")] = None,
    separate: Annotated[bool, typer.Option(
        "--separate/--opaque",
        help="Un-blend a translucent mark found inside the mask instead of inpainting it "
             "(experimental: it can leave the mark's outline); --opaque always inpaints.",
    )] = False,
    save_mark: Annotated[Path | None, typer.Option(
        help="With --separate: write the estimated mark here as an RGBA template.",
    )] = None,
    seed: Annotated[int, typer.Option(help="Same seed, same output.")] = 0,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda | cuda:N | mps")] = "auto",
    invert_mask: Annotated[bool, typer.Option("--invert-mask", help="White = remove.")] = False,
    snapshots: Annotated[
        Path | None, typer.Option(help="Write intermediate results into this folder.")
    ] = None,
    snapshot_every: Annotated[int, typer.Option(min=1, help="Steps between snapshots.")] = 50,
    threads: Annotated[int | None, typer.Option(
        min=1, help="Torch CPU threads (default: the cores this process may use and other "
                    "processes leave idle).")] = None,
    codec: Annotated[str | None, typer.Option(help="Videos: encoder (default libx264).")] = None,
    crf: Annotated[int, typer.Option(min=0, max=63, help="Videos: quality, lower = better.")] = 18,
    chunk_frames: Annotated[int, typer.Option(min=1, help="Videos: frames per chunk.")] = 48,
) -> None:
    """Remove what MASK (or TEMPLATE) marks from IMAGE (a photo or a video)."""
    output = output or image.with_name(f"{image.stem}.clean{image.suffix}")
    from pipeline.io.paths import is_video

    if is_video(image):
        return remove_video(image, output, mask, template, invert_mask, codec, crf, chunk_frames)
    from pipeline.io.snapshots import SnapshotFolder
    from pipeline.job import Job, check_extra_outputs, check_job, run_job, save_estimated_mark
    from pipeline.settings import RunOptions
    from pipeline.settings import preset as named_preset

    with one_line_errors():
        if (mask is None) == (template is None):
            raise InputError(f"{image}: give exactly one of --mask or --template")
        if save_mark is not None and not separate:
            raise InputError(f"{save_mark}: --save-mark needs --separate")
        settings = named_preset(preset).with_overrides(steps=steps, seed=seed, separate=separate)
        runtime = RunOptions(device=device, snapshot_every=snapshot_every if snapshots else 0)
        job = Job(image=image, output=output, mask=mask, template=template, invert_mask=invert_mask)
        check_job(job, settings)  # before the maths load: a wrong path answers at once
        check_extra_outputs(job, save_mark, snapshots)
        check_device(device)
        from pipeline.core.fill.restore import Observers

        prepare(output, threads)
        with console.warnings_to_console(), console.StepProgress(image.name) as progress:
            observers = Observers(
                progress=progress.update,
                snapshot=SnapshotFolder(snapshots, output).write if snapshots else None,
            )
            result = run_job(job, settings, runtime, observers)
        saved_mark = save_estimated_mark(result, save_mark) if save_mark else None
    say_removed(result, save_mark, saved_mark)


def say_removed(result: JobResult, save_mark: Path | None, saved_mark: Path | None) -> None:
    """What `remove` wrote: the output (where the mark was found), the estimated mark."""
    found = f" ({result.placement.describe()})" if result.placement else ""
    if result.opacity is not None:  # separation was tried
        found = f" ({result.separation}, mark opacity {result.opacity:.2f})"
    console.console.print(f"wrote {result.output}{found}", markup=False, soft_wrap=True)
    note_lossy([result.output])
    if save_mark is not None:
        console.console.print(f"wrote the estimated mark to {saved_mark}" if saved_mark else
                              "no mark saved: the mask was inpainted (no translucent mark found)",
                              markup=False, soft_wrap=True)


def remove_video(video: Path, output: Path, *options: object) -> None:
    """`remove` on a video: the mark found once, every frame cleaned, audio kept."""
    from pipeline.io.video import Encoding
    from pipeline.ui.video_progress import FrameProgress
    from pipeline.video_job import VideoJob, run_video

    mask, template, invert_mask, codec, crf, chunk_frames = options
    job = VideoJob(video, output, mask, template, invert_mask, Encoding(codec, crf), chunk_frames)
    with one_line_errors(), console.warnings_to_console(), FrameProgress(video.name) as progress:
        result = run_video(job, progress.update)
    console.console.print(result.summary(), markup=False, soft_wrap=True)


@app.command()
def estimate(
    folder: Annotated[
        Path, typer.Argument(help="Photos that carry the same mark at the same place (of one "
                             "size, or at a fixed offset from a corner or the centre).")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="The template to write (.png).")],
) -> None:
    """Estimate the watermark shared by the photos in FOLDER; write it as an RGBA template."""
    from pipeline.core.learn.estimate import describe
    from pipeline.learn_folder import estimate_folder

    with one_line_errors():
        estimated = estimate_folder(folder, output)
    footprint = describe(estimated.mark)
    aligned = f" ({estimated.alignment.describe()})" if estimated.alignment else ""
    console.console.print(
        f"wrote {output}: footprint {footprint.pixels} px in a {footprint.width}x"
        f"{footprint.height} box at x={footprint.left}, y={footprint.top}; mean opacity "
        f"{footprint.mean_opacity:.2f}{aligned}", markup=False, soft_wrap=True,
    )


EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM, as a shell reports a process it ended
ManifestArg = Annotated[Path, typer.Argument(help="The batch manifest (YAML).")]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print a machine-readable summary on stdout.")
]


@app.command()
def run(
    manifest: ManifestArg,
    workers: Annotated[
        int, typer.Option(min=1, help="CPU worker processes; with GPUs, workers per GPU.")
    ] = 1,
    devices: Annotated[
        str, typer.Option(help="auto (every GPU, else the CPU) | cpu | cuda:0,cuda:1 | mps")
    ] = "auto",
    backend: Annotated[str, typer.Option(help="loky (this machine) | dask (a cluster)")] = "loky",
    scheduler: Annotated[
        str | None, typer.Option(help="Dask scheduler address, tcp://HOST:PORT.")
    ] = None,
    shard: Annotated[
        str | None, typer.Option(help="Run only the I-th of N slices of the jobs, as I/N.")
    ] = None,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Try jobs that failed before again.")
    ] = False,
    checkpoint_every: Annotated[
        int | None, typer.Option(min=0, help="Steps between checkpoints (0: never).")
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option(min=1, help="Torch threads per worker (default: idle cores / workers)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Clean every image the MANIFEST lists; a rerun resumes where the last one stopped."""
    from pipeline.batch.coordinator import Aborted, BatchOptions, Interrupted, run_batch
    from pipeline.batch.manifest import load_manifest
    from pipeline.batch.plan import Shard
    from pipeline.ui import board

    with one_line_errors():
        try:
            batch = load_manifest(manifest)
            options = BatchOptions(
                workers=workers,
                devices=devices,
                backend=backend,
                scheduler=scheduler,
                shard=Shard.parse(shard) if shard else None,
                retry_failed=retry_failed,
                checkpoint_every=checkpoint_every,
                threads=threads,
            )
            with console.warnings_to_console(), board.BatchDisplay() as display:
                summary = run_batch(batch, options, display)
        except Interrupted as stop:
            board.print_summary(stop.summary, as_json)
            board.print_interrupted(stop.summary, str(manifest))
            raise typer.Exit(EXIT_TERMINATED if stop.terminated else EXIT_INTERRUPTED) from None
        except Aborted as stop:
            board.print_summary(stop.summary, as_json)
            console.error(str(stop))
            raise typer.Exit(EXIT_FAILED) from None
    board.print_summary(summary, as_json)
    note_lossy([Path(done.output) for done in summary.jobs if done.state == "done"])  # run now
    write_report(batch, None, after_run=True)
    raise typer.Exit(0 if summary.ok else EXIT_FAILED)


@app.command()
def report(
    manifest: ManifestArg,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Where to write (default OUTPUT/.unmark/report.html)."),
    ] = None,
) -> None:
    """Write an HTML page showing every job of MANIFEST before and after, doubtful ones first."""
    from pipeline.batch.manifest import load_manifest

    with one_line_errors():
        write_report(load_manifest(manifest), output)


@app.command()
def status(manifest: ManifestArg, as_json: JsonOption = False) -> None:
    """Show each job of MANIFEST: done, failed (and why), pending or running."""
    from pipeline.batch.manifest import load_manifest
    from pipeline.batch.status import batch_status
    from pipeline.ui import board

    with one_line_errors():
        batch = load_manifest(manifest)
        statuses = batch_status(batch)
    board.print_status(batch, statuses, as_json)


@app.command()
def validate(manifest: ManifestArg) -> None:
    """Check MANIFEST, and that every input exists and decodes, without optimising anything."""
    from pipeline.batch.manifest import check_inputs, load_manifest
    from pipeline.ui import board

    with one_line_errors():
        checks = check_inputs(load_manifest(manifest))
    board.print_checks(checks)
    raise typer.Exit(EXIT_FAILED if any(check.problem for check in checks) else 0)


@app.command()
def scaffold(
    images: Annotated[Path, typer.Argument(help="Folder of photos to clean.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The manifest to write.")],
    masks: Annotated[
        Path | None, typer.Option(help="Folder of masks, paired with photos by file stem.")
    ] = None,
    mask: Annotated[Path | None, typer.Option(help="One mask for every photo.")] = None,
    template: Annotated[
        str | None, typer.Option(help="RGBA watermark image for every photo, or 'auto'.")
    ] = None,
    preset: Annotated[str, typer.Option(help="default | quality | fast | reference")] = "default",
    force: Annotated[bool, typer.Option("--force", help="Replace an existing manifest.")] = False,
) -> None:
    """Write a manifest for the photos in IMAGES, pairing each with its mask."""
    from pipeline.batch import scaffold as scaffolding

    with one_line_errors():
        result = scaffolding.scaffold(images, output, masks, mask, template, preset)
        written = scaffolding.write(result, output, force)
    console.console.print(
        f"wrote {output}: {len(written.jobs)} job(s)", markup=False, soft_wrap=True
    )
    for image in result.unpaired:
        console.warning(f"{image}: no mask found; left out")
    for unused in result.unused:
        console.warning(f"{unused}: matches no photo")


@app.command()
def studio(
    folder: Annotated[Path, typer.Argument(help="Folder of photos to paint masks for.")],
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port on 127.0.0.1 (0: any free one).")
    ] = 8765,
    open_page: Annotated[bool, typer.Option("--open", help="Open the page in a browser.")] = False,
    preset: Annotated[str, typer.Option(help="default | quality | fast | reference")] = "default",
    steps: Annotated[int | None, typer.Option(min=0, help="Optimiser steps of the batch.")] = None,
    devices: Annotated[str, typer.Option(help="auto | cpu | cuda:0,cuda:1 | mps")] = "auto",
    template: Annotated[Path | None, typer.Option(
        help="RGBA watermark image to suggest masks from (default: the mark the photos share).",
    )] = None,
) -> None:
    """Paint masks, preview the fill, run the batch and review it in a local web page."""
    from pipeline.ui.studio.masks import BatchSettings
    from pipeline.ui.studio.server import StudioOptions, bind, serve

    with one_line_errors():
        bound = bind(StudioOptions(folder, port, BatchSettings(preset, steps), devices,
                                   template))
    console.console.print(f"unmark studio: {bound.address} (Ctrl-C stops it)", markup=False,
                          soft_wrap=True)
    if open_page:
        import webbrowser

        webbrowser.open(bound.address)
    with one_line_errors():
        serve(bound)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
