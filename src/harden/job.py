"""One ``harden image`` run, start to finish: read → merge → plan/apply stages → write layer → verify → outputs →
reports, for every platform the source names (one image, or each platform image of an index). Everything happens
inside one Workspace, removed on success, failure and interrupt; outputs and tags are published only after every
platform's verification passed, all of them or none."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harden import __version__
from harden.errors import UnsupportedImage, UsageError, VerificationFailed
from harden.image.blobs import BlobStore
from harden.image.model import ImageConfig, ImageSet, Platform, Rootfs
from harden.image.source_guard import refuse_writes_into_sources
from harden.pipeline import PipelineResult, StageRecord, file_count, run_pipeline
from harden.progress import ProgressReporter, SilentProgress
from harden.stages.drop_shells import DropShells, DropShellsSettings
from harden.stages.remove_installers import RemoveInstallers, RemoveInstallersSettings

if TYPE_CHECKING:
    from harden.image.model import Image
    from harden.image.reference import ImageRef
    from harden.image.space import SizeLimit
    from harden.image.transports import Compression, RegistryOptions, WriteContext
    from harden.image.writer import WrittenLayer
    from harden.policy import Policy
    from harden.report.write import WrittenReports
    from harden.verify.accounting import Ledger
    from harden.verify.result import VerificationReport

log = logging.getLogger(__name__)

LABEL_PREFIX = "io.github.harden"


@dataclass(frozen=True, slots=True)
class Loaded:
    """One image read and merged inside the workspace."""

    ref: ImageRef
    image: Image
    rootfs: Rootfs
    dropped: tuple[Any, ...]


def load_and_merge(reference: str, workspace: Path, blobs: BlobStore, progress: ProgressReporter,
                   *, sanitize: bool = False, size_limit: SizeLimit | None = None,
                   platform: Platform | None = None, registry: RegistryOptions | None = None) -> Loaded:
    """Read and merge the one image ``reference`` names (of an index: ``platform``'s, default this machine's)."""
    from harden.image.space import limit_for
    from harden.image.transports import RegistryOptions, open_image, parse_reference

    ref = parse_reference(reference)
    progress.phase(f"read {reference}")
    limit = limit_for(size_limit, workspace)  # None: the default, from the workspace's free space
    image = open_image(ref, workspace, limit=limit, platform=platform, registry=registry or RegistryOptions())
    return merge_image(ref, image, blobs, progress, sanitize=sanitize, limit=limit)


def merge_image(ref: ImageRef, image: Image, blobs: BlobStore, progress: ProgressReporter, *,
                sanitize: bool = False, limit: SizeLimit | None = None, label: str | None = None) -> Loaded:
    """Merge ``image`` (of ``ref``); ``label`` names its platform in the progress when a run has several."""
    from harden.image.config_check import check_config
    from harden.image.merge import merge_layers

    check_config(image.config, ref.text)
    progress.phase(f"merge {len(image.layers)} layers" + (f" ({label})" if label else ""))
    merged = merge_layers(image.layers, blobs, sanitize=sanitize, limit=limit)
    return Loaded(ref, image, merged.rootfs, tuple(merged.dropped))


@dataclass
class PlatformRun:
    """One platform of the run: its image merged, the pipeline's result, what was written and verified."""

    loaded: Loaded
    result: PipelineResult | None = None
    config: ImageConfig | None = None
    output: Image | None = None
    verification: VerificationReport | None = None
    verified_by: str = "not verified"
    """"engine" or "sandbox" (the images ran), "linkage" (only the static check: the platform cannot run
    here), "not verified" (--no-verify, verification disabled by the policy, --dry-run)."""
    how: str = ""
    harden_seconds: float = 0.0
    output_digest: str | None = None
    folder: str = ""
    """The folder of its reports (and of its files in the workspace): the platform's name, made unique."""

    @property
    def platform(self) -> Platform | None:
        return self.loaded.image.runs_on

    @property
    def label(self) -> str:
        return str(self.platform) if self.platform is not None else "unknown platform"


@dataclass(frozen=True, slots=True)
class PlatformResult:
    """One platform of a run: sizes, what each stage did, and how it was verified (``verified_by``: "engine",
    "sandbox", "linkage" — a platform this machine cannot run, only the static check —, or "not verified";
    ``how``: native, through binfmt_misc, or why it could not run)."""

    platform: str
    bytes_before: int
    bytes_after: int
    files_before: int
    files_after: int
    records: tuple[StageRecord, ...]
    verification: VerificationReport | None
    verified_by: str = "not verified"
    how: str = ""
    output_digest: str | None = None


@dataclass(frozen=True, slots=True)
class HardenResult:
    source: str
    policy_name: str
    policy_digest: str
    platforms: tuple[PlatformResult, ...]
    written: tuple[str, ...]
    report_dir: Path | None
    image_id: str | None
    is_index: bool = False
    reports: WrittenReports | None = None
    """The report set of a one-platform run (a run of several has one per platform, ``platform_reports``)."""
    platform_reports: tuple[WrittenReports, ...] = ()
    skipped: tuple[str, ...] = ()
    """Entries of the source index that are not images (attestations, artifacts), left out."""

    @property
    def bytes_before(self) -> int:
        return sum(p.bytes_before for p in self.platforms)

    @property
    def bytes_after(self) -> int:
        return sum(p.bytes_after for p in self.platforms)

    @property
    def files_before(self) -> int:
        return sum(p.files_before for p in self.platforms)

    @property
    def files_after(self) -> int:
        return sum(p.files_after for p in self.platforms)

    @property
    def records(self) -> tuple[StageRecord, ...]:
        """The stage records of a one-platform run (of the first platform otherwise)."""
        return self.platforms[0].records if self.platforms else ()

    @property
    def verification(self) -> VerificationReport | None:
        """The verification of a one-platform run (of the first platform otherwise)."""
        return self.platforms[0].verification if self.platforms else None


@dataclass
class HardenJob:
    source: str
    policy: Policy
    tag: str | None
    outputs: tuple[str, ...]
    report_dir: Path | None
    verify: bool
    dry_run: bool
    sanitize: bool
    runner: str
    jobs: int
    progress: ProgressReporter | None = None
    size_limit: SizeLimit | None = None
    platforms: tuple[str, ...] = ()
    compression: str | None = None
    tls_verify: bool | None = None
    _ctx: WriteContext | None = field(default=None, init=False)
    _limit: SizeLimit | None = field(default=None, init=False)
    _count: int = field(default=1, init=False)

    def execute(self) -> HardenResult:
        from harden.image.transports import (
            DEFAULT_COMPRESSION,
            Compression,
            RegistryOptions,
            WriteContext,
            check_outputs,
            default_output,
            parse_output,
            parse_reference,
        )
        from harden.image.workspace import Workspace
        from harden.report.write import default_report_dir

        progress = self.progress or SilentProgress()
        source_ref = parse_reference(self.source)
        output_refs = [parse_output(text) for text in self.outputs]
        wanted = _platforms(self.platforms)
        compression = Compression.parse(self.compression) if self.compression else None
        tag_ref = (parse_output(f"docker-daemon:{self.tag}") if self.tag
                   else default_output(source_ref, self.policy.output.tag_suffix))
        targets = [*output_refs, *([tag_ref] if tag_ref is not None else [])]
        report_dir = self.report_dir or default_report_dir(self.source)
        refuse_writes_into_sources([source_ref], targets, None if self.dry_run else report_dir)
        registry = RegistryOptions(tls_verify=self.tls_verify)
        ctx = self._ctx = WriteContext(Path(), compression or DEFAULT_COMPRESSION, tag_ref.name if tag_ref else None,
                                       registry)
        if not self.dry_run:
            check_outputs(targets, ctx)  # before any work: a run publishes every output or none
        started = time.perf_counter()

        with Workspace() as ws, self._nothing_loaded_left_on_failure():
            ctx.workspace = ws.path / "out"
            ctx.workspace.mkdir()
            blobs = BlobStore(ws.path / "blobs")
            images = self._open(source_ref, targets, wanted, compression, registry, ws.path, progress)
            runs = [PlatformRun(merge_image(source_ref, image, blobs, progress, sanitize=self.sanitize,
                                            limit=self._limit,
                                            label=str(image.runs_on) if self._count > 1 else None))
                    for image in images.images]
            _name_folders(runs)
            if self.verify and self.policy.verify.enabled and not self.dry_run:
                for run in runs:
                    require_python(run.loaded, blobs, run.label if len(runs) > 1 else None)
            for run in runs:
                self._harden(run, blobs, ws.path, progress, started)
            failed = [run for run in runs if run.verification is not None and not run.verification.ok]
            written: list[str] = []
            annotations, dropped_annotations = _output_annotations(images)
            if not self.dry_run and not failed:
                from harden.image.transports import publish

                progress.phase("write outputs")
                outputs = ImageSet(tuple(run.output for run in runs if run.output is not None), images.reference,
                                   images.is_index, None, annotations)
                written = publish(targets, outputs, ctx)
            progress.close()
            platform_reports = self._reports(runs, report_dir, images, written, dropped_annotations, blobs)
        if failed:
            where = report_dir / ("summary.md" if _several(runs, images) else "report.md")
            details = [f"{run.label}: {line}" if len(runs) > 1 else line
                       for run in failed for line in (run.verification.failures() if run.verification else [])]
            raise VerificationFailed(f"verification failed; nothing was written (see {where})", details=details)
        return HardenResult(
            source=self.source,
            policy_name=self.policy.name,
            policy_digest=self.policy.digest,
            platforms=tuple(_platform_result(run) for run in runs),
            is_index=images.is_index,
            written=tuple(written),
            report_dir=report_dir,
            image_id=_engine_id(targets, runs) if written else None,
            reports=platform_reports[0] if len(platform_reports) == 1 else None,
            platform_reports=tuple(platform_reports),
            skipped=images.skipped,
        )

    def _open(self, source_ref: ImageRef, targets: Sequence[ImageRef], wanted: Sequence[Platform],
              compression: Compression | None, registry: RegistryOptions, workspace: Path,
              progress: ProgressReporter) -> ImageSet:
        """The source's images (the platforms asked for), checked against what the outputs can hold."""
        from harden.image.space import limit_for
        from harden.image.transports import check_platforms, open_source

        progress.phase(f"read {self.source}")
        self._limit = limit_for(self.size_limit, workspace)  # None: the default, from the workspace's free space
        images = open_source(source_ref, workspace / "source", limit=self._limit, platforms=wanted,
                             registry=registry)
        check_platforms(targets, images, compression=compression)
        self._count = len(images.images)
        for line in images.skipped:
            log.info("left out: %s", line)
        return images

    def _harden(self, run: PlatformRun, blobs: BlobStore, workdir: Path, progress: ProgressReporter,
                started: float) -> None:
        from harden.image.transports import output_annotations, reopened

        loaded = run.loaded
        if self._count > 1:
            progress.phase(f"harden {run.label}")
        run.result = run_pipeline(
            loaded.rootfs, loaded.image.config, blobs, self.policy.enabled_stages(), jobs=self.jobs,
            progress=progress.tick, on_stage=progress.phase,
        )
        run.harden_seconds = time.perf_counter() - started
        if self.dry_run:
            return
        progress.phase("write layer" + (f" ({run.label})" if self._count > 1 else ""))
        folder = workdir / "platforms" / run.folder
        folder.mkdir(parents=True, exist_ok=True)
        layer, config = self._write(run.result, loaded, blobs, folder)
        run.config = config
        run.output_digest = "sha256:" + hashlib.sha256(config.to_bytes()).hexdigest()
        from harden.image.model import Image

        run.output = Image(config, (reopened(layer, f"hardened layer ({run.label})"),), platform=run.platform,
                           annotations=output_annotations(loaded.image.annotations)[0])
        run.harden_seconds = time.perf_counter() - started
        if self.verify and self.policy.verify.enabled:
            self._verify(run, blobs, folder, progress)

    def _write(self, result: PipelineResult, loaded: Loaded, blobs: BlobStore,
               folder: Path) -> tuple[WrittenLayer, ImageConfig]:
        """The squashed layer and final config, in the workspace (not yet published)."""
        from harden.image.writer import source_date_epoch, write_layer

        epoch = source_date_epoch()
        layer = write_layer(result.rootfs, blobs, folder / "layer.tar", clamp_mtime=epoch or None)
        config = finalize_config(result.config, loaded.image, self.policy, layer, epoch)
        return layer, config

    def _verify(self, run: PlatformRun, blobs: BlobStore, workdir: Path, progress: ProgressReporter) -> None:
        from harden.host_platform import can_execute
        from harden.image.transports import engine_image, load_into_engine
        from harden.verify.api import VerifyTarget, verify

        assert run.result is not None and run.config is not None and run.output is not None
        loaded = run.loaded
        execution = can_execute(run.platform, _program_head(loaded, blobs))
        run.how = execution.how
        if not execution.runs:
            progress.phase(f"verify {run.label}: static linkage check only")
            run.verification = linkage_only(loaded, run.result, blobs, execution.how)
            run.verified_by = "linkage"
            return
        original_engine = hardened_engine = None
        source_engine = engine_image(loaded.ref, loaded.image)
        if source_engine is not None and self.runner != "sandbox":
            assert self._ctx is not None
            original_engine = source_engine
            hardened_engine = load_into_engine(run.output, self._ctx)
        progress.phase("verify" + (f" ({run.label}, {execution.how})" if self._count > 1 else ""))
        run.verification = verify(
            VerifyTarget("original", loaded.image.config, loaded.rootfs, blobs, original_engine),
            VerifyTarget("hardened", run.config, run.result.rootfs, blobs, hardened_engine),
            self.policy.verify,
            allowed_removals=deliberate_removals(self.policy),
            ledger=ledger_of(run.result.records),
            shells=shell_names(self.policy),
            runner=self.runner,
            workdir=workdir / "verify",
            jobs=self.jobs,
            progress=progress.tick,
        )
        run.verified_by = run.verification.runner

    @contextlib.contextmanager
    def _nothing_loaded_left_on_failure(self) -> Iterator[None]:
        """Whatever stops the run (an error, Ctrl-C, SIGTERM, failed verification), the untagged images it
        loaded into the engine are removed."""
        try:
            yield
        finally:
            if self._ctx is not None and self._ctx.loaded:
                from harden.image.transports import forget_loaded

                with contextlib.suppress(Exception):
                    forget_loaded(self._ctx)

    def _reports(self, runs: Sequence[PlatformRun], report_dir: Path, images: ImageSet, written: list[str],
                 dropped_annotations: list[str], blobs: BlobStore) -> list[WrittenReports]:
        from harden.report.write import write_run_reports

        several = _several(runs, images)
        reports = []
        for run in runs:
            assert run.result is not None
            folder = report_dir / run.folder if several else report_dir
            reports.append(write_run_reports(
                folder,
                source=self.source,
                source_image=run.loaded.image,
                original=run.loaded.rootfs,
                result=run.result,
                policy=self.policy,
                verification=run.verification,
                dropped=run.loaded.dropped,
                written=written,
                harden_seconds=run.harden_seconds,
                dry_run=self.dry_run,
                blobs=blobs,
                output_digest=run.output_digest,
                removed_on_purpose=deliberate_removals(self.policy),
            ))
        if several:
            from harden.report.platforms import write_platform_summary

            write_platform_summary(report_dir, _summary(self.source, runs, images, written, dropped_annotations,
                                                        reports, report_dir, self.dry_run))
        return reports


def _platforms(texts: Sequence[str]) -> list[Platform]:
    wanted = []
    for text in texts:
        try:
            wanted.append(Platform.parse(text))
        except ValueError as exc:
            raise UsageError(f"--platform: {exc}") from None
    return wanted


def _several(runs: Sequence[PlatformRun], images: ImageSet) -> bool:
    """Whether the reports go in a folder per platform, with a summary: an index, or several images."""
    return len(runs) > 1 or images.is_index


def _name_folders(runs: Sequence[PlatformRun]) -> None:
    """``linux-arm64-v8``; a platform an index lists twice gets ``-2``, ``-3``…"""
    seen: dict[str, int] = {}
    for run in runs:
        name = run.platform.slug if run.platform is not None else "unknown-platform"
        seen[name] = seen.get(name, 0) + 1
        run.folder = name if seen[name] == 1 else f"{name}-{seen[name]}"


def _output_annotations(images: ImageSet) -> tuple[tuple[tuple[str, str], ...], list[str]]:
    from harden.image.transports import output_annotations

    kept, dropped = output_annotations(images.annotations)
    for image in images.images:
        dropped += [f"{image.runs_on}: {line}" for line in output_annotations(image.annotations)[1]]
    return kept, dropped


def _engine_id(targets: Sequence[ImageRef], runs: Sequence[PlatformRun]) -> str | None:
    """The engine image id of a published engine tag: the config digest (the same in Docker and podman)."""
    from harden.image.transports import engine_image

    for run in runs:
        if run.output is not None and any(engine_image(ref, run.output) for ref in targets):
            return run.output_digest
    return None


def _platform_result(run: PlatformRun) -> PlatformResult:

    assert run.result is not None
    return PlatformResult(
        platform=run.label,
        bytes_before=run.loaded.rootfs.content_bytes(),
        bytes_after=run.result.rootfs.content_bytes(),
        files_before=file_count(run.loaded.rootfs),
        files_after=file_count(run.result.rootfs),
        records=run.result.records,
        verification=run.verification,
        verified_by=run.verified_by,
        how=run.how,
        output_digest=run.output_digest,
    )


def _summary(source: str, runs: Sequence[PlatformRun], images: ImageSet, written: Sequence[str],
             dropped_annotations: Sequence[str], reports: Sequence[WrittenReports], report_dir: Path,
             dry_run: bool) -> dict[str, Any]:
    rows = []
    for run, report in zip(runs, reports, strict=True):
        verification = run.verification
        verdict = ("not verified" if verification is None else "skipped" if verification.skipped
                   else "passed" if verification.ok else "failed")
        assert run.result is not None
        rows.append({
            "platform": run.label,
            "verification": run.verified_by,
            "how": run.how,
            "verdict": verdict,
            "failures": verification.failures() if verification is not None else [],
            "source_config_digest": run.loaded.image.config_digest or None,
            "output_config_digest": run.output_digest,
            "bytes_before": run.loaded.rootfs.content_bytes(),
            "bytes_after": run.result.rootfs.content_bytes(),
            "findings": len(report.findings),
            "reports": str(report.report_dir.relative_to(report_dir)),
        })
    return {
        "schema": "harden-platforms/1",
        "source": source,
        "index": images.is_index,
        "dry_run": dry_run,
        "platforms": rows,
        "left_out": list(images.skipped),
        "annotations_dropped": list(dropped_annotations),
        "written": list(written),
    }


def linkage_only(loaded: Loaded, result: PipelineResult, blobs: BlobStore, why: str) -> VerificationReport:
    """Verification of an image this machine cannot run: the static linkage check stands in (nothing runs)."""
    from harden.verify.linkage import check_linkage
    from harden.verify.result import VerificationReport

    environment = dict(item.partition("=")[::2] for item in result.config.env)
    linkage = check_linkage(loaded.rootfs, result.rootfs, blobs, environment)
    return VerificationReport("original", "hardened", runner="linkage", linkage=linkage,
                              notes=(f"imports were not walked and nothing ran: {why}; every DT_NEEDED and symbol "
                                     "version of every ELF file was checked statically instead",))


def _program_head(loaded: Loaded, blobs: BlobStore) -> bytes | None:
    """The first bytes of the image's (first) Python interpreter: what the kernel's binfmt_misc matches."""
    from harden.verify.api import VerifyTarget, interpreters_of

    for path in interpreters_of(VerifyTarget("original", loaded.image.config, loaded.rootfs, blobs)):
        resolved = loaded.rootfs.resolve(path)
        entry = loaded.rootfs.get(resolved) if resolved is not None else None
        if entry is not None and entry.digest is not None and entry.digest in blobs:
            with blobs.open(entry.digest) as stream:
                return stream.read(64)
    return None


def require_python(loaded: Loaded, blobs: BlobStore, platform: str | None = None) -> None:
    """Verification proves what the original's Python could import; without one there is nothing to prove,
    so the run stops before any work (exit 3) instead of failing verification at the end."""
    from harden.verify.api import VerifyTarget, interpreters_of

    if not interpreters_of(VerifyTarget("original", loaded.image.config, loaded.rootfs, blobs)):
        where = f"{loaded.ref.text} ({platform})" if platform else loaded.ref.text
        raise UnsupportedImage(
            f"{where}: no Python interpreter found in the image, so verification has nothing to prove",
            details=["harden it anyway with --no-verify"],
        )


def finalize_config(config: ImageConfig, source: Image, policy: Policy, layer: WrittenLayer,
                    epoch: int) -> ImageConfig:
    """Labels naming harden, the policy and the source; the one squashed layer; a history entry saying so."""
    from harden.image.writer import with_written_layers

    config = (
        config.with_label(f"{LABEL_PREFIX}.version", __version__)
        .with_label(f"{LABEL_PREFIX}.policy", policy.name)
        .with_label(f"{LABEL_PREFIX}.policy-digest", policy.digest)
        .with_label(f"{LABEL_PREFIX}.source-config-digest", source.config_digest)
    )
    return with_written_layers(
        config, [layer], epoch=epoch,
        created_by=f"harden {__version__} image --policy {policy.name} ({policy.digest})",
        comment="all layers squashed into one rewritten layer by harden",
    )


def ledger_of(records: Sequence[StageRecord]) -> Ledger:
    """What the stages removed (by absolute image path) and which modules they gave up, for verification."""
    from harden.verify.accounting import Ledger, ModuleAccount, Removal

    removals = [Removal(record.stage, change.reason, "/" + change.target, change.removes_modules)
                for record in records for change in record.changes if change.action == "remove"]
    modules = [ModuleAccount(give.module, record.stage, give.reason)
               for record in records for give in record.gives_up]
    return Ledger.of(removals, modules)


def shell_names(policy: Policy) -> tuple[str, ...]:
    """The program names the drop-shells stage treats as shells (the policy's typed settings)."""
    return policy.settings_of(DropShells, DropShellsSettings).shells


def deliberate_removals(policy: Policy) -> tuple[str, ...]:
    """Distributions the policy removes on purpose; the metadata diff does not count them as lost."""
    settings = policy.settings_of(RemoveInstallers, RemoveInstallersSettings)
    if not settings.enabled:
        return ()
    return tuple(sorted(name.lower() for name in settings.packages))


def verify_references(original: str, hardened: str, *, policy: Policy, report_dir: Path | None, runner: str,
                      jobs: int, progress: ProgressReporter | None, size_limit: SizeLimit | None = None,
                      platform: Platform | None = None, registry: RegistryOptions | None = None) -> VerificationReport:
    from harden.image.transports import engine_image, parse_reference
    from harden.image.workspace import Workspace
    from harden.verify.api import VerifyTarget, verify

    refuse_writes_into_sources([parse_reference(original), parse_reference(hardened)], report_dir=report_dir)
    progress = progress or SilentProgress()
    with Workspace() as ws:
        blobs = BlobStore(ws.path / "blobs")
        before = load_and_merge(original, ws.path / "original", blobs, progress, size_limit=size_limit,
                                platform=platform, registry=registry)
        after = load_and_merge(hardened, ws.path / "hardened", blobs, progress, size_limit=size_limit,
                               platform=platform, registry=registry)
        progress.phase(f"plan {policy.name} on the original (what it removes on purpose)")
        planned = run_pipeline(before.rootfs, before.image.config, blobs, policy.enabled_stages(), jobs=jobs)
        progress.phase("verify")
        report = verify(
            VerifyTarget("original", before.image.config, before.rootfs, blobs, engine_image(before.ref, before.image)),
            VerifyTarget("hardened", after.image.config, after.rootfs, blobs, engine_image(after.ref, after.image)),
            policy.verify,
            allowed_removals=deliberate_removals(policy),
            ledger=ledger_of(planned.records),
            shells=shell_names(policy),
            runner=runner,
            workdir=ws.path / "verify",
            jobs=jobs,
            progress=progress.tick,
        )
    if report_dir is not None:
        from harden.report.write import write_json

        write_json(report_dir / "verify.json", report.to_dict())
    return report


def review_reference(reference: str, *, policy: Policy | None = None, report_dir: Path,
                     progress: ProgressReporter | None = None, sanitize: bool = False,
                     size_limit: SizeLimit | None = None, platform: Platform | None = None) -> WrittenReports:
    """``harden report``: load and merge ``reference`` in a workspace and write its security review; changes
    nothing. ``sanitize`` drops unsafe layer entries (listed in the report) instead of refusing the image."""
    from harden.image.transports import parse_reference
    from harden.image.workspace import Workspace
    from harden.report.write import write_review_reports

    progress = progress or SilentProgress()
    refuse_writes_into_sources([parse_reference(reference)], report_dir=report_dir)
    with Workspace() as ws:
        blobs = BlobStore(ws.path / "blobs")
        loaded = load_and_merge(reference, ws.path, blobs, progress, sanitize=sanitize, size_limit=size_limit,
                                platform=platform)
        progress.phase("review")
        reports = write_review_reports(report_dir, source=reference, source_image=loaded.image,
                                       rootfs=loaded.rootfs, blobs=blobs, policy=policy, dropped=loaded.dropped)
    progress.close()
    return reports
