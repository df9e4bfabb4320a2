"""`hubctl demo`: the whole exchange, from nothing to hits in police inboxes, in one command.

Every step uses the project's real commands or functions: `hubctl services up` (in-process),
`hub-connector init`, `hubctl registry import`/`publish`, the pipeline workers, several
`hub-connector publish` processes at once and each unit's `hub-connector inbox`.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from rich.console import Console, Group
from rich.live import Live

from hub.config import Settings
from hub.errors import HubError
from hub.keys import SigningKey
from hub.matching.document_files import write_jsonl
from hub.registry import operator_key_paths
from ops.demo import casefiles, dataset, figures, namespace
from ops.demo.figures import Figures, Quality
from ops.demo.jobs import Job, run_all
from ops.demo.namespace import DemoRun, environment, tool
from ops.demo.tamper import send_tampered, tampered_wire
from ops.demo.view import render
from ops.errors import DemoError

PARALLEL = 3


@dataclass
class Outcome:
    """What a finished demo run saw (also what the test checks)."""

    run: DemoRun
    data: dataset.DemoData
    figures: Figures
    quality: Quality
    seconds: float
    failed_jobs: list[str] = field(default_factory=list)
    reports: list[Path] = field(default_factory=list)
    # The operator console started for the run: address, user, one-time password, pid.
    console_login: tuple[str, str, str, int] | None = None
    # The case-file reads: (case id, unit, what it got), the entitled one first.
    case_reads: list[tuple[str, str, str]] = field(default_factory=list)


class Demo:
    """One run of the demo; `run()` does everything and returns the outcome."""

    def __init__(self, base: Settings, root: Path, size: int, seed: int, *,
                 keep_going: bool = False, console: Console | None = None,
                 timeout_s: float = 600.0) -> None:
        self.base = base
        self.root = root
        self.size = size
        self.seed = seed
        self.keep_going = keep_going
        self.console = console or Console()
        self.timeout_s = timeout_s
        self.ids = dataset.participants()
        self.stage = "starting"
        self.fig = figures.Figures()
        self.data = dataset.DemoData()
        self.failed: list[str] = []
        self._live: Live | None = None
        self.report_paths: list[Path] = []
        self._last_read = 0.0
        self.console_login: tuple[str, str, str, int] | None = None
        self.case_reads: list[tuple[str, str, str]] = []

    # -- display ------------------------------------------------------------------------

    def say(self, text: str) -> None:
        self.stage = text
        self.console.log(text)
        self.refresh(force=True)

    def refresh(self, force: bool = False) -> None:
        """Re-read the figures (at most once a second) and redraw the live summary."""
        if not force and time.monotonic() - self._last_read < 1.0:
            return
        self._last_read = time.monotonic()
        if hasattr(self, "run_info"):
            figures.read_database(self.settings.pg_dsn, self.fig)
        self.fig.rejected_rows = figures.read_rejects(self.root, self.ids)
        self.fig.notifications = figures.read_inboxes(self.root, self.ids)
        if self._live is not None:
            self._live.update(self.view())

    def view(self) -> Group:
        return render(self.stage, self.fig, self.data.rows, self.data.bad_rows, self.data.labels)

    # -- steps --------------------------------------------------------------------------

    def run(self) -> Outcome:
        began = time.monotonic()
        from ops import services

        self.say("starting Kafka and PostgreSQL (no-op when running)")
        report = services.status(self.base)
        if not all(entry.healthy for entry in report):
            report = services.up(self.base)
        for entry in report:
            self.console.log(entry.line())
        for line in namespace.retire(self.base, self.root):
            self.console.log(line)
        namespace.clear_folder(self.root)
        self.run_info = namespace.new_run(self.root)
        self.settings = self.run_info.settings(self.base)
        namespace.save_run(self.run_info, self.base)
        self._create_namespace()
        self.data = dataset.build(self.root, self.size, self.seed)
        self.say(f"generated {sum(self.data.rows.values())} rows for {len(self.data.files)} "
                 f"participants ({len(self.data.labels)} true pairs, seed {self.seed})")
        with Live(self.view(), console=self.console, refresh_per_second=2) as live:
            self._live = live
            self._register()
            self._start_processors()
            self._publish()
            self._tamper()
            self._wait_stored()
            self._wait_matches()
            self._collect_inboxes()
            self._answer_sampling_requests()
            # Outcomes only now: a closed alert stops matching, and the demo shows the hits.
            self._publish(outcomes=True)
            self._wait_stored(outcomes=True)
            self._confirm_true_hits()
            self._read_case_file()
            self.report_paths = self._write_report()
            self._start_console()
            self.stage = f"done in {time.monotonic() - began:.0f}s"
            self.refresh(force=True)
        self._live = None
        q = figures.quality(self.fig.notifications, self.data.labels)
        return Outcome(self.run_info, self.data, self.fig, q, time.monotonic() - began,
                       self.failed, self.report_paths, self.console_login, self.case_reads)

    def _start_console(self) -> None:
        """The operator console on this run's data, with a demo operator's one-time password."""
        from ops.console import detached
        from ops.console.accounts import Accounts

        try:
            accounts = Accounts(self.settings.pg_dsn)
            try:
                password = accounts.add("demo-operator", "operator")
            finally:
                accounts.close()
            started = detached.start(tool("hubctl"), environment(self.settings),
                                     self.root / detached.RECORD, self.run_info.operator_dir,
                                     self.run_info.logs / "console.log")
        except HubError as err:
            self.failed.append(f"console: {err}")
            self.console.log(f"[red]the operator console was not started: {err}[/red]")
            return
        self.console_login = (started.url, "demo-operator", password, started.pid)
        self.say(f"operator console on {started.url} (hubctl console, pid {started.pid})")

    def _create_namespace(self) -> None:
        from hub import topics
        from ops import db
        from processors import topic_admin

        self.say(f"creating topics under {self.run_info.prefix} and database "
                 f"{self.run_info.database}")
        db.migrate(db.create_database(self.base, self.run_info.database).pg_owner_dsn)
        topic_admin.apply(self.settings)
        specs = [topics.notification_spec(pid) for pid in self.ids]
        topic_admin.apply(self.settings, specs)

    def _jobs(self, jobs: list[Job], parallel: int) -> None:
        failed = run_all(jobs, parallel=parallel, tick=self.refresh, keep_going=self.keep_going,
                         timeout_s=self.timeout_s)
        for job in failed:
            self.failed.append(job.failure())
            self.console.log(f"[red]{job.failure()}[/red]")

    def _registry_env(self) -> dict[str, str]:
        return environment(self.settings.with_overrides(data_dir=self.run_info.operator_dir))

    def _register(self) -> None:
        hubctl, connector = tool("hubctl"), tool("hub-connector")
        self.say("hub operator key (hubctl registry init)")
        self._jobs([Job("registry init", [hubctl, "registry", "init"],
                        environment(self.settings), self.run_info.logs / "registry.log")], 1)
        # This run's registry journal is its own; the operator key is the hub's (linked, not
        # copied), so the pipeline's trust anchor and the match-found signer stay the same.
        own = operator_key_paths(self.run_info.operator_dir)
        for link, target in zip(own, operator_key_paths(self.base.data_dir), strict=True):
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(target.resolve())
        self.say(f"{len(self.ids)} participants: hub-connector init (key pair, config, request)")
        inits = []
        for pid in self.ids:
            folder = self.run_info.participant_dir(pid)
            folder.mkdir(parents=True, exist_ok=True)
            inits.append(Job(f"init {pid}", [
                connector, "init", "--participant-id", pid, "--display-name",
                f"{dataset.PROVINCES[pid[:6]]} {pid[7:]}", "--hub", self.base.kafka_bootstrap,
                "--topic-prefix", self.run_info.prefix, "--config",
                str(self.run_info.config_path(pid))], environment(self.settings),
                self.run_info.logs / f"{pid}.log"))
        self._jobs(inits, PARALLEL)
        self.say("hubctl registry import of every registration request, then publish")
        events = self.run_info.operator_dir / "registrations.b64"
        imports = [Job(f"import {pid}", [
            hubctl, "registry", "import", "--out", str(events),
            str(self.run_info.participant_dir(pid) / f"{pid}.registration.json")],
            self._registry_env(), self.run_info.logs / "registry.log") for pid in self.ids]
        self._jobs(imports, 1)  # one journal, one sequence: strictly one after the other
        self.say("hub-connector join: each participant takes in its bundle (broker login)")
        joins = [Job(f"join {pid}", [
            connector, "join", "--config", str(self.run_info.config_path(pid)),
            str(self.run_info.participant_dir(pid) / f"{pid}.bundle.json")],
            environment(self.settings), self.run_info.logs / f"{pid}.log") for pid in self.ids]
        self._jobs(joins, PARALLEL)
        self._jobs([Job("registry publish", [hubctl, "registry", "publish", str(events)],
                        self._registry_env(), self.run_info.logs / "registry.log")], 1)

    def _start_processors(self) -> None:
        from processors.supervisor import start_workers, stop_workers

        self.say("starting the pipeline workers (hubctl processors start)")
        for attempt in (1, 2, 3):
            started = start_workers(self.settings, 1)
            if self._worker_assigned(started[0].log_file, 60):
                break
            # A worker that joined its group before the broker's metadata listed the new
            # topics sits with no partitions until its next metadata refresh (minutes).
            self.console.log(f"worker got no partitions (attempt {attempt}); restarting it")
            stop_workers(self.settings, timeout=20)
        self._wait("the hub to project the registrations",
                   lambda: self.fig.participants >= len(self.ids), 180)

    def _worker_assigned(self, log_file: Path, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.refresh()
            try:
                text = log_file.read_text(encoding="utf-8", errors="replace")
            except OSError:
                text = ""
            if "Ignoring missing topic" in text:
                return False
            if "Worker]: Ready" in text or self.fig.participants >= len(self.ids):
                return True
            time.sleep(0.5)
        return False

    def _publish(self, outcomes: bool = False) -> None:
        connector = tool("hub-connector")
        kinds = dataset.OUTCOME_KINDS if outcomes else dataset.KINDS
        files = self.data.outcome_files if outcomes else self.data.files
        order = {t: n for n, (_, t, _) in enumerate(kinds)}
        work = sorted(((event_type, pid, path) for pid, files in files.items()
                       for event_type, path in files), key=lambda w: (order[w[0]], w[1]))
        what = "closures, follow-ups and tips" if outcomes else "files"
        self.say(f"publishing {len(work)} {what} through hub-connector publish, "
                 f"{PARALLEL} at a time")
        jobs = [Job(f"publish {pid} {event_type}", [
            connector, "publish", "--config", str(self.run_info.config_path(pid)), "--type",
            event_type, "--quiet", str(path)], environment(self.settings),
            self.run_info.logs / f"{pid}.log", ok_codes=(0, 1)) for event_type, pid, path in work]
        # Exit code 1 means "some rows rejected", which the demo plants on purpose; a file
        # that could not be read or events left unsent are checked below, from the log.
        self._jobs(jobs, PARALLEL)
        for job in jobs:
            if job.returncode == 1 and ("NOT PUBLISHED" in job.output()
                                        or "pending events" in job.output()):
                problem = job.failure()
                if not self.keep_going:
                    raise DemoError(problem)
                self.failed.append(problem)

    def _tamper(self) -> None:
        publisher = "320000-police"
        key = SigningKey.load(self.run_info.participant_dir(publisher) / "keys" /
                              f"{publisher}.pem")
        wire = tampered_wire(self.data.tamper_template, publisher, key)
        send_tampered(self.settings, wire, publisher)
        self.say("sent one tampered event (signed, then one payload byte flipped) to ingest")

    def _expected_events(self, outcomes: bool = False) -> int:
        rows = sum(self.data.rows.values())
        if outcomes:
            rows += sum(self.data.outcome_rows.values())
        return rows - len(self.fig.rejected_rows)

    def _wait_stored(self, outcomes: bool = False) -> None:
        expected = self._expected_events(outcomes)
        self.say(f"waiting for the hub to verify and store {expected} events")
        self._wait("every published event to be stored or quarantined",
                   lambda: self.fig.partner_events >= expected
                   and any(q[0] == "BAD_SIGNATURE" for q in self.fig.quarantined), 300)

    def _wait_matches(self, quiet_s: float = 10.0) -> None:
        self.say("matching: waiting until no new match has been found for "
                 f"{quiet_s:.0f}s")
        last, since = -1, time.monotonic()

        def settled() -> bool:
            nonlocal last, since
            now = self.fig.stored_of("match-found")
            if now != last:
                last, since = now, time.monotonic()
            return time.monotonic() - since >= quiet_s

        self._wait("matching to settle", settled, 300)

    def _collect_inboxes(self) -> None:
        connector = tool("hub-connector")
        for round_number in (1, 2, 3):
            before = sum(len(v) for v in self.fig.notifications.values())
            self.say(f"reading every participant's inbox (hub-connector inbox), round "
                     f"{round_number}")
            self._jobs([Job(f"inbox {pid}", [
                connector, "inbox", "--config", str(self.run_info.config_path(pid)), "--jsonl",
                str(figures.inbox_file(self.root, pid)), "--idle", "2"],
                environment(self.settings), self.run_info.logs / f"{pid}.log")
                for pid in self.ids], PARALLEL + 1)
            self.refresh(force=True)
            if sum(len(v) for v in self.fig.notifications.values()) == before:
                return

    def _answer_sampling_requests(self) -> None:
        """Police units sample the children the hub asked for and send the profiles back
        (hub-connector publish --type dna-sample); the hub searches them against every alert's
        parents, and the hits arrive in the alerts' units' inboxes."""
        connector, today = tool("hub-connector"), dt.datetime.now(dt.UTC).date().isoformat()
        jobs, sent = [], 0
        for pid, notes in sorted(self.fig.notifications.items()):
            rows = dataset.samples_for(notes, self.data, pid, today)
            if not rows:
                continue
            path = self.run_info.participant_dir(pid) / "data" / "dna-samples.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            write_jsonl(path, rows)
            sent += len(rows)
            jobs.append(Job(f"publish {pid} dna-sample", [
                connector, "publish", "--config", str(self.run_info.config_path(pid)), "--type",
                "dna-sample", "--quiet", str(path)], environment(self.settings),
                self.run_info.logs / f"{pid}.log"))
        self.say(f"police units answer {sent} DNA-sampling requests with the children's "
                 "profiles (hub-connector publish --type dna-sample)")
        if not jobs:
            return
        self._jobs(jobs, PARALLEL)
        self._wait("the samples to be stored", lambda: self.fig.stored_of("dna-sample") >= sent,
                   180)
        self._wait_matches()
        self._collect_inboxes()

    def _confirm_true_hits(self) -> None:
        """Each police unit confirms the hits it received that are true (the labels say so)."""
        connector = tool("hub-connector")
        truth = {tuple(label) for label in self.data.labels}
        jobs, seen = [], set()
        for pid, notes in self.fig.notifications.items():
            for note in notes:
                hit, match_id = figures.hit_of(note), note.get("match_id")
                if hit is None or hit not in truth or not match_id or match_id in seen:
                    continue
                seen.add(match_id)
                jobs.append(Job(f"decide {pid} {match_id}", [
                    connector, "decide", "--config", str(self.run_info.config_path(pid)),
                    str(match_id), "confirm", "--note", "家属已辨认 family identified"],
                    environment(self.settings), self.run_info.logs / f"{pid}.log"))
        self.say(f"police units confirm the {len(jobs)} true hits (hub-connector decide)")
        before = self.fig.stored_of("match-decision")
        self._jobs(jobs, PARALLEL)
        self._wait("the decisions to be stored",
                   lambda: self.fig.stored_of("match-decision") >= before + len(jobs), 180)

    def _read_case_file(self) -> None:
        """One case file read by an entitled unit and refused to another, both audited."""
        chosen = casefiles.pick_case(self.settings.pg_dsn, list(dataset.PROVINCES))
        if chosen is None:
            self.say("no rescue case with follow-ups in a demo province: no case file read")
            return
        connector = tool("hub-connector")
        self.say(f"reading case file {chosen.case_id} as {chosen.reader} and as "
                 f"{chosen.outsider} (hub-connector case)")
        jobs = [Job(f"case {pid}", [
            connector, "case", chosen.case_id, "--config", str(self.run_info.config_path(pid)),
            "--reason", reason, "--wait", "120"], environment(self.settings),
            self.run_info.logs / f"{pid}-case.log", ok_codes=(0, 1))
            for pid, reason in ((chosen.reader, "安置复核 placement review"),
                                (chosen.outsider, "查询 looking around"))]
        self._jobs(jobs, 2)
        for job, pid in zip(jobs, (chosen.reader, chosen.outsider), strict=True):
            got = casefiles.summary(job.output())
            self.case_reads.append((chosen.case_id, pid, got))
            self.console.log(f"case file {chosen.case_id} for {pid}: {got}")
        with psycopg.connect(self.settings.pg_dsn) as conn:
            row = conn.execute("SELECT count(*) FROM case_audit WHERE case_id = %s",
                               (chosen.case_id,)).fetchone()
        self.console.log(f"both requests audited ({row[0] if row else 0} rows): "
                         f"hubctl audit --case {chosen.case_id}")

    def _write_report(self) -> list[Path]:
        """The joint office's report of this run, in HTML and PDF (hubctl report's code)."""
        from hub.reports.facts import Period
        from ops.report.write import ReportRequest, parse_day, report_from_database

        baseline = Period(*(parse_day(d, "baseline") for d in dataset.REPORT_BASELINE))
        first, last = (parse_day(d, "period") for d in dataset.REPORT_PERIOD)
        # The hits and decisions happen while the demo runs: the period runs up to today.
        period = Period(first, max(last, dt.datetime.now(dt.UTC).date()))
        self.say(f"writing the joint office's report: {period.text()} against {baseline.text()}")
        written = []
        for fmt in ("html", "pdf"):
            request = ReportRequest(period, self.root / f"report.{fmt}", fmt, baseline)
            source = f"demo database {self.run_info.database}"
            try:
                written.append(report_from_database(self.settings.pg_reader_dsn, request, source))
            except HubError as err:
                problem = f"report {fmt}: {err}"
                if not self.keep_going:
                    raise DemoError(problem) from err
                self.failed.append(problem)
        for path in written:
            self.console.log(f"report written to {path}")
        return written

    def _wait(self, what: str, done: Callable[[], bool], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            self.refresh(force=True)
            if done():
                return
            if time.monotonic() > deadline:
                problem = f"gave up waiting for {what} after {timeout_s:.0f}s"
                if not self.keep_going:
                    raise DemoError(problem + "; see hubctl status and the worker log under "
                                    f"{self.base.data_dir / 'processors'}")
                self.failed.append(problem)
                return
            time.sleep(1.0)


def where_next(run: DemoRun, cwd: Path | None = None,
               console_login: tuple[str, str, str, int] | None = None) -> list[str]:
    """The closing lines: which commands show what the demo left running."""
    here = (cwd or Path.cwd()).resolve()

    def rel(path: Path | str) -> str:
        # Short paths when the demo lives below the current folder, full ones otherwise.
        full = Path(path).resolve() if Path(path).is_absolute() else Path(path)
        try:
            return str(full.relative_to(here))
        except ValueError:
            return str(path)

    hubctl, connector = rel(tool("hubctl")), rel(tool("hub-connector"))
    env = rel(run.root / namespace.ENV_FILE)
    unit = "510000-police"
    console = [] if console_login is None else [
        f"  {console_login[0]}   # the operator console: log in as {console_login[1]} with the "
        f"one-time password {console_login[2]} (stop it: kill {console_login[3]})",
    ]
    return [
        "Where to look next (the services and this demo's pipeline worker keep running):",
        *console,
        f"  . {env} && {hubctl} status            # rates, lag, publishers, quarantine",
        f"  . {env} && {hubctl} quarantine list   # the tampered event: BAD_SIGNATURE",
        f"  {connector} inbox --config {rel(run.config_path(unit))}   # new hits only",
        f"  {rel(run.participant_dir(unit) / 'inbox.jsonl')}   # the hits the demo received",
        f"  {rel(run.root)}/<participant>/data/*.rejects.csv   # rejected rows and why",
        f"  . {env} && {hubctl} audit            # case-file reads and details requests",
        f"  {rel(run.root / 'report.html')}  and  {rel(run.root / 'report.pdf')}   "
        "# the joint office's report of this run (hubctl report writes others)",
        f"Stop: {hubctl} services down   # the pipeline workers first, then Kafka and PostgreSQL",
    ]
