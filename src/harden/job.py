"""One ``harden image`` run, start to finish: read → merge → plan/apply stages → write layer → verify → sinks →
reports. Everything happens inside one Workspace, removed on success, failure and interrupt; outputs and tags are
published only after verification passed, all of them or none."""

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
from harden.errors import InputError, UnsupportedImage, UsageError, VerificationFailed
from harden.image.blobs import BlobStore
from harden.image.model import ImageConfig, Rootfs
from harden.image.source_guard import refuse_writes_into_sources
from harden.pipeline import PipelineResult, StageRecord, file_count, run_pipeline
from harden.progress import ProgressReporter, SilentProgress

if TYPE_CHECKING:
    from harden.api import HardenResult
    from harden.image.model import Image
    from harden.image.reference import ImageRef
    from harden.image.space import SizeLimit
    from harden.image.writer import WrittenLayer
    from harden.policy import Policy
    from harden.verify.accounting import Ledger
    from harden.verify.result import VerificationReport

log = logging.getLogger(__name__)

LABEL_PREFIX = "io.github.harden"


@dataclass(frozen=True, slots=True)
class Loaded:
    """An image read and merged inside the workspace."""

    ref: ImageRef
    image: Image
    rootfs: Rootfs
    dropped: tuple[Any, ...]


def load_and_merge(reference: str, workspace: Path, blobs: BlobStore, progress: ProgressReporter,
                   *, sanitize: bool = False, size_limit: SizeLimit | None = None) -> Loaded:
    from harden.image.config_check import check_config
    from harden.image.merge import merge_layers
    from harden.image.reference import parse_reference
    from harden.image.sources import open_image
    from harden.image.space import limit_for

    ref = parse_reference(reference)
    progress.phase(f"read {reference}")
    limit = limit_for(size_limit, workspace)  # None: the default, from the workspace's free space
    image = open_image(ref, workspace, limit=limit)
    check_config(image.config, reference)
    progress.phase(f"merge {len(image.layers)} layers")
    merged = merge_layers(image.layers, blobs, sanitize=sanitize, limit=limit)
    return Loaded(ref, image, merged.rootfs, tuple(merged.dropped))


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
    _loaded_engine_image: str | None = field(default=None, init=False)

    def execute(self) -> HardenResult:
        from harden.api import HardenResult, default_report_dir
        from harden.image.reference import parse_reference
        from harden.image.workspace import Workspace

        progress = self.progress or SilentProgress()
        source_ref = parse_reference(self.source)
        output_refs = [parse_reference(text) for text in self.outputs]
        for ref in output_refs:
            if ref.transport == "daemon":
                raise UsageError(f"--output takes docker-archive:, oci-archive: or oci:, got {ref.text!r}; "
                                 "use --tag for the engine")
        tag = self.tag or (f"{source_ref.repository}:{self.policy.output.tag_suffix}"
                           if source_ref.transport == "daemon" else None)
        report_dir = self.report_dir or default_report_dir(self.source)
        refuse_writes_into_sources([source_ref], output_refs, None if self.dry_run else report_dir)
        if not self.dry_run:
            from harden.image.sinks import check_outputs

            check_outputs(output_refs)  # before any work: a run publishes every output or none
        if tag is not None and source_ref.transport != "daemon" and not self.dry_run:
            from harden.engine import connect

            connect().close()  # the tag needs an engine: fail before any work, not after writing outputs
        started = time.perf_counter()

        with Workspace() as ws, self._no_engine_image_left_on_failure():
            blobs = BlobStore(ws.path / "blobs")
            loaded = load_and_merge(self.source, ws.path, blobs, progress, sanitize=self.sanitize,
                                    size_limit=self.size_limit)
            if self.verify and self.policy.verify.enabled and not self.dry_run:
                require_python(loaded, blobs)
            stages = self.policy.enabled_stages()
            result = run_pipeline(
                loaded.rootfs, loaded.image.config, blobs, stages, jobs=self.jobs,
                progress=progress.tick, on_stage=progress.phase,
            )
            harden_seconds = time.perf_counter() - started
            verification: VerificationReport | None = None
            written: list[str] = []
            image_id: str | None = None
            output_digest: str | None = None
            if not self.dry_run:
                progress.phase("write layer")
                archive, config = self._write(result, loaded, blobs, ws.path)
                output_digest = "sha256:" + hashlib.sha256(config.to_bytes()).hexdigest()
                harden_seconds = time.perf_counter() - started
                if self.verify and self.policy.verify.enabled:
                    verification = self._verify(loaded, result, config, blobs, archive, ws.path, progress)
                if verification is None or verification.ok:
                    written, image_id = self._publish(archive, output_refs, tag)
                else:
                    self._forget_engine_image()
            progress.close()
            from harden.report.write import write_run_reports

            reports = write_run_reports(
                report_dir,
                source=self.source,
                source_image=loaded.image,
                original=loaded.rootfs,
                result=result,
                policy=self.policy,
                verification=verification,
                dropped=loaded.dropped,
                written=written,
                harden_seconds=harden_seconds,
                dry_run=self.dry_run,
                blobs=blobs,
                output_digest=output_digest,
            )
        if verification is not None and not verification.ok:
            raise VerificationFailed(
                f"verification failed; nothing was written (see {report_dir}/report.md)",
                details=verification.failures(),
            )
        return HardenResult(
            source=self.source,
            policy_name=self.policy.name,
            policy_digest=self.policy.digest,
            bytes_before=loaded.rootfs.content_bytes(),
            bytes_after=result.rootfs.content_bytes(),
            files_before=file_count(loaded.rootfs),
            files_after=file_count(result.rootfs),
            records=result.records,
            verification=verification,
            written=tuple(written),
            report_dir=report_dir,
            image_id=image_id,
            reports=reports,
        )

    def _write(self, result: PipelineResult, loaded: Loaded, blobs: BlobStore,
               workdir: Path) -> tuple[Path, ImageConfig]:
        """The squashed layer and final config, as a docker-archive in the workspace (not yet published)."""
        from harden.image.sinks.docker_archive import write_docker_archive
        from harden.image.writer import source_date_epoch, write_layer

        epoch = source_date_epoch()
        layer = write_layer(result.rootfs, blobs, workdir / "layer.tar", clamp_mtime=epoch or None)
        config = finalize_config(result.config, loaded.image, self.policy, layer, epoch)
        archive = workdir / "hardened.docker-archive.tar"
        write_docker_archive(config, [layer], archive, repo_tags=())
        return archive, config

    def _verify(self, loaded: Loaded, result: PipelineResult, config: ImageConfig, blobs: BlobStore,
                archive: Path, workdir: Path, progress: ProgressReporter) -> VerificationReport:
        from harden.verify.api import VerifyTarget, verify

        original_engine = hardened_engine = None
        if loaded.ref.transport == "daemon" and self.runner != "sandbox":
            original_engine = loaded.image.config_digest or loaded.ref.text
            hardened_engine = self._load_into_engine(archive)
        progress.phase("verify")
        return verify(
            VerifyTarget("original", loaded.image.config, loaded.rootfs, blobs, original_engine),
            VerifyTarget("hardened", config, result.rootfs, blobs, hardened_engine),
            self.policy.verify,
            allowed_removals=deliberate_removals(self.policy),
            ledger=ledger_of(result.records),
            shells=shell_names(self.policy),
            runner=self.runner,
            workdir=workdir / "verify",
            jobs=self.jobs,
            progress=progress.tick,
        )

    def _load_into_engine(self, archive: Path) -> str:
        from harden.image.sinks.daemon import load_archive

        self._loaded_engine_image = load_archive(archive)
        return self._loaded_engine_image

    @contextlib.contextmanager
    def _no_engine_image_left_on_failure(self) -> Iterator[None]:
        """Whatever stops the run (an error, Ctrl-C, SIGTERM), the untagged image it loaded is removed."""
        try:
            yield
        except BaseException:
            with contextlib.suppress(Exception):
                self._forget_engine_image()
            raise

    def _forget_engine_image(self) -> None:
        if self._loaded_engine_image is None:
            return
        from harden.image.sinks.daemon import remove_image

        remove_image(self._loaded_engine_image)
        self._loaded_engine_image = None

    def _publish(self, archive: Path, output_refs: list[ImageRef], tag: str | None) -> tuple[list[str], str | None]:
        """Every output, then the tag, or nothing: the outputs are staged (written beside their destinations)
        first, then committed together; the tag comes last, and a failure at any point (Ctrl-C included)
        takes back what was already in place."""
        from harden.atomic import Publication
        from harden.image.sinks import write_output
        from harden.image.sinks.daemon import tag_image

        image_id = None
        if tag is not None:  # loaded untagged first: an engine failing here leaves no file output behind
            image_id = self._loaded_engine_image or self._load_into_engine(archive)
        try:
            with Publication() as publication:
                for ref in output_refs:
                    with _environment_errors(f"cannot write --output {ref.text}"):
                        write_output(ref, archive, tag_name=tag, publication=publication)
                with _environment_errors("cannot publish the outputs"):
                    publication.commit()
                if tag is not None and image_id is not None:
                    tag_image(image_id, tag)  # last: a tag only ever names a complete, published run
        except BaseException:
            self._forget_engine_image()
            raise
        self._loaded_engine_image = None
        written = [ref.text for ref in output_refs] + ([tag] if tag is not None and image_id is not None else [])
        return written, image_id


@contextlib.contextmanager
def _environment_errors(what: str) -> Iterator[None]:
    """A full, read-only or failing disk is the environment's fault (exit 3), not a bug in harden (exit 4)."""
    try:
        yield
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        raise InputError(f"{what}: {exc.strerror or exc}{where}") from exc


def require_python(loaded: Loaded, blobs: BlobStore) -> None:
    """Verification proves what the original's Python could import; without one there is nothing to prove,
    so the run stops before any work (exit 3) instead of failing verification at the end."""
    from harden.verify.api import VerifyTarget, interpreters_of

    if not interpreters_of(VerifyTarget("original", loaded.image.config, loaded.rootfs, blobs)):
        raise UnsupportedImage(
            f"{loaded.ref.text}: no Python interpreter found in the image, so verification has nothing to prove",
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
    """The program names the drop-shells stage treats as shells (its data, the policy's resolved list)."""
    return tuple(str(name) for name in policy.stages["drop-shells"].get("shells", ()))


def deliberate_removals(policy: Policy) -> tuple[str, ...]:
    """Distributions the policy removes on purpose; the metadata diff does not count them as lost."""
    if not policy.stage_enabled("remove-installers"):
        return ()
    return tuple(sorted(str(name).lower() for name in policy.stages["remove-installers"].get("packages", ())))


def verify_references(original: str, hardened: str, *, policy: Policy, report_dir: Path | None, runner: str,
                      jobs: int, progress: ProgressReporter | None,
                      size_limit: SizeLimit | None = None) -> VerificationReport:
    from harden.image.reference import parse_reference
    from harden.image.workspace import Workspace
    from harden.verify.api import VerifyTarget, verify

    refuse_writes_into_sources([parse_reference(original), parse_reference(hardened)], report_dir=report_dir)
    progress = progress or SilentProgress()
    with Workspace() as ws:
        blobs = BlobStore(ws.path / "blobs")
        before = load_and_merge(original, ws.path / "original", blobs, progress, size_limit=size_limit)
        after = load_and_merge(hardened, ws.path / "hardened", blobs, progress, size_limit=size_limit)
        progress.phase(f"plan {policy.name} on the original (what it removes on purpose)")
        planned = run_pipeline(before.rootfs, before.image.config, blobs, policy.enabled_stages(), jobs=jobs)
        progress.phase("verify")
        report = verify(
            VerifyTarget("original", before.image.config, before.rootfs, blobs,
                         before.ref.text if before.ref.transport == "daemon" else None),
            VerifyTarget("hardened", after.image.config, after.rootfs, blobs,
                         after.ref.text if after.ref.transport == "daemon" else None),
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
