"""One ``harden image`` run, start to finish: read → merge → plan/apply stages → write layer → verify →
reports built → attestations → outputs → reports and statements written, for every platform the source names
(one image, or each platform image of an index). Everything happens inside one Workspace, removed on success,
failure and interrupt; outputs and tags are published only after every platform's verification passed, all of
them or none, with their referrers (SBOM, statements) staged in them. The reports are built before the outputs
are published (the provenance names report.json's digest) and written after; when verification fails they are
written all the same, and nothing else is."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harden.errors import UsageError, VerificationFailed
from harden.image.blobs import BlobStore
from harden.image.model import Image, ImageConfig, ImageSet, Platform
from harden.image.source_guard import refuse_writes_into_sources
from harden.job.config import finalize_config
from harden.job.load import Loaded, merge_image, program_head, require_python
from harden.job.policy_facts import deliberate_removals, ledger_of, shell_names
from harden.job.results import HardenResult, PlatformRun, per_platform, platform_result, platform_summary
from harden.pipeline import PipelineResult, run_pipeline
from harden.progress import ProgressReporter, SilentProgress

if TYPE_CHECKING:
    from harden.attest.keys import SigningKey
    from harden.attest.run import Attestation
    from harden.image.reference import ImageRef
    from harden.image.space import SizeLimit
    from harden.image.transports import Compression, Referrer, RegistryOptions, StreamedLoad, WriteContext
    from harden.image.writer import WrittenLayer
    from harden.job.attestations import Coverage
    from harden.policy import Policy
    from harden.report.write import RunReports, WrittenReports
    from harden.verify.result import VerificationReport

log = logging.getLogger(__name__)


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
    signing_keys: tuple[SigningKey, ...] = ()
    """``--sign-key``: the statements are signed with each (none: written unsigned). Their repr shows key ids."""
    _ctx: WriteContext | None = field(default=None, init=False)
    _limit: SizeLimit | None = field(default=None, init=False)
    _count: int = field(default=1, init=False)
    _streams_load: bool = field(default=False, init=False)
    """Whether the layer goes into the engine's load as it is written (one platform, an engine tag)."""

    def execute(self) -> HardenResult:
        from harden.image.transports import (
            DEFAULT_COMPRESSION,
            Compression,
            RegistryOptions,
            WriteContext,
            check_outputs,
            default_output,
            loads_into_engine,
            parse_output,
            parse_reference,
        )
        from harden.image.workspace import Workspace
        from harden.job.attestations import coverage, refuse_pointless_key
        from harden.report.write import default_report_dir
        from harden.workers import worker_server

        progress = self.progress or SilentProgress()
        started_on = datetime.now(UTC)
        source_ref = parse_reference(self.source)
        output_refs = [parse_output(text) for text in self.outputs]
        wanted = _platforms(self.platforms)
        compression = Compression.parse(self.compression) if self.compression else None
        tag_ref = (parse_output(f"docker-daemon:{self.tag}") if self.tag
                   else default_output(source_ref, self.policy.output.tag_suffix))
        targets = [*output_refs, *([tag_ref] if tag_ref is not None else [])]
        report_dir = self.report_dir or default_report_dir(self.source)
        refuse_writes_into_sources([source_ref], targets, None if self.dry_run else report_dir)
        covered = coverage(targets)
        if not self.dry_run:
            refuse_pointless_key(self.signing_keys, covered, targets)
        registry = RegistryOptions(tls_verify=self.tls_verify)
        ctx = self._ctx = WriteContext(Path(), compression or DEFAULT_COMPRESSION, tag_ref.name if tag_ref else None,
                                       registry)
        if not self.dry_run:
            check_outputs(targets, ctx)  # before any work: a run publishes every output or none
        started = time.perf_counter()

        with Workspace() as ws, worker_server(), self._nothing_loaded_left_on_failure():
            ctx.workspace = ws.path / "out"
            ctx.workspace.mkdir()
            blobs = BlobStore(ws.path / "blobs")
            images = self._open(source_ref, targets, wanted, compression, registry, ws.path, progress)
            self._streams_load = not self.dry_run and self._count == 1 and loads_into_engine(targets)
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
            statements: list[tuple[Attestation, ...]] = [() for _ in runs]
            if not self.dry_run and not failed:
                from harden.image.transports import publish
                from harden.job.engine_ahead import loading_beside

                outputs = ImageSet(tuple(run.output for run in runs if run.output is not None), images.reference,
                                   images.is_index, None, annotations)
                with (loading_beside(outputs.images, ctx) if loads_into_engine(targets) else contextlib.nullcontext()):
                    built = self._attested_reports(runs, images, outputs, covered, [t.text for t in targets], blobs,
                                                   started_on, statements, progress)
                progress.phase("write outputs")
                written = publish(targets, outputs, ctx)
            else:
                built = self._build_reports(runs, images, written, blobs, [None] * len(runs))
            progress.close()
            platform_reports, attested = self._write_reports(runs, report_dir, images, written, dropped_annotations,
                                                             built, statements)
        if failed:
            where = report_dir / ("summary.md" if per_platform(runs, images) else "report.md")
            details = [f"{run.label}: {line}" if len(runs) > 1 else line
                       for run in failed for line in (run.verification.failures() if run.verification else [])]
            raise VerificationFailed(f"verification failed; nothing was written (see {where})", details=details)
        return HardenResult(
            source=self.source,
            policy_name=self.policy.name,
            policy_digest=self.policy.digest,
            platforms=tuple(platform_result(run) for run in runs),
            is_index=images.is_index,
            written=tuple(written),
            report_dir=report_dir,
            image_id=_engine_id(targets, runs) if written else None,
            reports=platform_reports[0] if len(platform_reports) == 1 else None,
            platform_reports=tuple(platform_reports),
            skipped=images.skipped,
            attestations=tuple(attested),
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
        from harden.image.transports import output_annotations, reopened, stream_into_engine

        loaded = run.loaded
        if self._count > 1:
            progress.phase(f"harden {run.label}")
        if self.jobs > 1 and not self.dry_run:
            from harden.report.analysis import ElfScanAhead

            run.elf_ahead = ElfScanAhead(loaded.rootfs, blobs, self.jobs)  # on the cores the stages leave idle
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
        load = stream_into_engine("the hardened image") if self._streams_load else None
        try:
            layer, config, run.write_notes = self._write(run.result, loaded, blobs, folder, load)
            run.config = config
            run.output_digest = "sha256:" + hashlib.sha256(config.to_bytes()).hexdigest()
            run.output = Image(config, (reopened(layer, f"hardened layer ({run.label})"),), platform=run.platform,
                               annotations=output_annotations(loaded.image.annotations)[0])
            if load is not None:
                assert self._ctx is not None
                load.finish(run.output, self._ctx.streaming)
        except BaseException:
            if load is not None:
                load.abort()
            raise
        run.harden_seconds = time.perf_counter() - started
        if self.verify and self.policy.verify.enabled:
            self._verify(run, blobs, folder, progress)

    def _write(self, result: PipelineResult, loaded: Loaded, blobs: BlobStore, folder: Path,
               load: StreamedLoad | None) -> tuple[WrittenLayer, ImageConfig, tuple[str, ...]]:
        """The squashed layer and final config, in the workspace (not yet published), and what the report says
        of how it was written; the layer sent into ``load`` too as it is written, when there is one."""
        from harden.image.writer import plan_layer, source_date_epoch, write_planned

        epoch = source_date_epoch()
        plan = plan_layer(result.rootfs, clamp_mtime=epoch or None)
        if load is None:
            layer = write_planned(plan, blobs, folder / "layer.tar")
        else:
            size = plan.size(blobs)
            with load.layer(size) as stream:
                layer = write_planned(plan, blobs, folder / "layer.tar", copy_to=stream, size=size)
        config = finalize_config(result.config, loaded.image, self.policy, layer, epoch)
        return layer, config, plan.notes()

    def _verify(self, run: PlatformRun, blobs: BlobStore, workdir: Path, progress: ProgressReporter) -> None:
        from harden.heap import release_for_probes
        from harden.image.host_platform import can_execute
        from harden.image.transports import engine_image, load_into_engine
        from harden.verify.api import VerifyTarget, verify
        from harden.verify.linkage import read_for_linkage

        assert run.result is not None and run.config is not None and run.output is not None
        loaded = run.loaded
        execution = can_execute(run.platform, program_head(loaded, blobs))
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
        if run.elf_ahead is not None:
            run.elf_ahead.wait()  # its pool ends before the fork server stops
        dynamic = read_for_linkage(loaded.rootfs, run.result.rootfs, blobs)  # in a worker, before the fork server stops
        release_for_probes()  # the probes peak now; the reports' pools start the fork server again
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
            dynamic=dynamic,
        )
        run.verified_by = run.verification.runner

    @contextlib.contextmanager
    def _nothing_loaded_left_on_failure(self) -> Iterator[None]:
        """Whatever stops the run (an error, Ctrl-C, SIGTERM, failed verification), the untagged images it
        loaded into the engine are removed."""
        try:
            yield
        finally:
            if self._ctx is not None and (self._ctx.loaded or self._ctx.streaming):
                from harden.image.transports import forget_loaded

                with contextlib.suppress(Exception):
                    forget_loaded(self._ctx)

    def _attested_reports(self, runs: Sequence[PlatformRun], images: ImageSet, outputs: ImageSet, covered: Coverage,
                          written: list[str], blobs: BlobStore, started_on: datetime,
                          statements: list[tuple[Attestation, ...]], progress: ProgressReporter) -> list[RunReports]:
        """Each platform's report, built with the plan of its attestations; then the statements (which name
        the report's digest), kept in ``statements``, and their referrers, in the write context."""
        from harden.image.transports import output_manifests
        from harden.job.attestations import RunIdentity, attest, plan
        from harden.report.write import SBOM_HARDENED

        assert self._ctx is not None
        progress.phase("attest")
        manifests = output_manifests(outputs, self._ctx) if covered.subjects else (None,) * len(runs)
        why = ("--no-verify" if not self.verify else "the policy turns verification off"
               if not self.policy.verify.enabled else "verification was skipped")
        plans = [plan(covered, manifest, self.signing_keys, run.verification, not_verified_why=why,
                      sbom_file=SBOM_HARDENED) for run, manifest in zip(runs, manifests, strict=True)]
        built = self._build_reports(runs, images, written, blobs, [p.to_report() for p in plans])
        identity = RunIdentity(self.source, self.policy.name, self.policy.digest, started_on, datetime.now(UTC))
        referrers: list[Referrer] = []
        for index, (run, the_plan, manifest, reports) in enumerate(zip(runs, plans, manifests, built, strict=True)):
            if manifest is None or the_plan.subject_digest is None:
                continue
            statements[index], found = attest(the_plan, covered, manifest, identity, run.loaded.image.config_digest,
                                              run.verification, reports, self.signing_keys)
            referrers += found
        self._ctx.referrers = tuple(referrers)
        return built

    def _build_reports(self, runs: Sequence[PlatformRun], images: ImageSet, written: list[str], blobs: BlobStore,
                       attestations: Sequence[Mapping[str, Any] | None]) -> list[RunReports]:
        from harden.report.write import build_run_reports

        built = []
        for run, entry in zip(runs, attestations, strict=True):
            assert run.result is not None
            built.append(build_run_reports(
                source=self.source,
                source_image=run.loaded.image,
                original=run.loaded.rootfs,
                result=run.result,
                policy=self.policy,
                verification=run.verification,
                dropped=run.loaded.dropped, efficiency=run.loaded.efficiency,
                written=written,
                harden_seconds=run.harden_seconds,
                dry_run=self.dry_run,
                blobs=blobs,
                output_digest=run.output_digest,
                removed_on_purpose=deliberate_removals(self.policy),
                attestations=entry,
                elf_cache=run.elf_ahead.cache() if run.elf_ahead is not None else None,
                write_notes=run.write_notes,
            ))
        return built

    def _write_reports(self, runs: Sequence[PlatformRun], report_dir: Path, images: ImageSet, written: list[str],
                       dropped_annotations: list[str], built: Sequence[RunReports],
                       statements: Sequence[tuple[Attestation, ...]]) -> tuple[list[WrittenReports], list[Path]]:
        """Each platform's reports (and, for a run that published, its statement files) in its folder; the
        reports and the statement files written."""
        from harden.job.attestations import write
        from harden.report.write import write_reports

        several = per_platform(runs, images)
        reports = []
        files: list[Path] = []
        for run, report, attestations in zip(runs, built, statements, strict=True):
            folder = report_dir / run.folder if several else report_dir
            reports.append(write_reports(folder, report))
            if written:
                files += write(folder, attestations)
        if several:
            from harden.report.platforms import write_platform_summary

            write_platform_summary(report_dir, platform_summary(self.source, runs, images, written, dropped_annotations,
                                                        reports, report_dir, self.dry_run))
        return reports, files


def _platforms(texts: Sequence[str]) -> list[Platform]:
    wanted = []
    for text in texts:
        try:
            wanted.append(Platform.parse(text))
        except ValueError as exc:
            raise UsageError(f"--platform: {exc}") from None
    return wanted


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


def linkage_only(loaded: Loaded, result: PipelineResult, blobs: BlobStore, why: str) -> VerificationReport:
    """Verification of an image this machine cannot run: the static linkage check stands in (nothing runs)."""
    from harden.verify.linkage import check_linkage
    from harden.verify.result import VerificationReport

    environment = dict(item.partition("=")[::2] for item in result.config.env)
    linkage = check_linkage(loaded.rootfs, result.rootfs, blobs, environment)
    return VerificationReport("original", "hardened", runner="linkage", linkage=linkage,
                              notes=(f"imports were not walked and nothing ran: {why}; every DT_NEEDED and symbol "
                                     "version of every ELF file was checked statically instead",))

