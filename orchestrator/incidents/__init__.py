"""Incidents: alert level, grade, deadlines and the runs that handled them.

For readers (reports, auditors), the API is:

    from orchestrator.incidents import IncidentStore, Incident
    store = IncidentStore(journal)          # journal: orchestrator.journal.Journal
    store.incidents(status="open"|"closed"|None)  # -> list[Incident], newest first
    inc = store.get("INC-20261127-0210-ab12")
    inc.category, inc.level, inc.grade      # network|equipment|system, blue..red, I|II|III|None
    inc.started_at, inc.closed_at           # aware datetimes (UTC)
    inc.outage_seconds(now)                 # business stopped, to now or to restoration
    inc.on_site, inc.deadlines_met          # {contact: ISO time}, {deadline key: ISO time}
    store.timeline(inc.id)                  # hash-chained events, oldest first:
        incident.opened / .updated / .level_changed {from,to,cause,reason,run_id,at}
        incident.grade_changed {from,to,outage_seconds,at} / .on_site / .deadline_met
        incident.progress {text,at} / .closed {resolution,at}
        incident.reporting_days_added {days,source,branches,at} / .branches_added
        incident.reentered {branch,parts,at} / .immediate_report_due {cause,at}
        incident.notice_due {key,kind,due_at,level,detail} / .notice_finished {key,status}
        notification.sent / notification.failed {key,channel,recipient,attempts,error}
        alert_level (from the incident's runs)
    store.runs(inc.id)                      # RunRecords started with --incident ID
    store.notices(inc.id)                   # NoticeRecords: what was owed and delivered

Every event's data carries "incident_id"; "at" inside the data is when the change took
effect (the incident's clock), the event's own `at` is when it was written.

For changing them (the CLI, the scheduler, a web console), the use cases in
orchestrator.incidents.handling check, journal and notify in one call:

    open_incident(journal, inventory, category=..., level=..., summary=..., actor=...)
    update_incident(journal, inc.id, IncidentUpdate(level="orange", reason=...), actor=...)
    close_incident(journal, inc.id, actor=..., resolution=...)
        # -> Handled(incident, inventory, notices: what was escalated and sent at once)

Deadline keys: regulator-initial (60 min), written-report (12 h), progress-N (grade I,
every 2 h) for graded incidents; on-site-LEVEL-MIN (the level's roster); owed also after
close until met (clocks.py): immediate-report, fault-report, credit-submission-DATE,
reentry-important, reentry-all. Rules: orchestrator.incidents.rules; the working-day
calendar: orchestrator.calendar.

For other code that finds affected reporting days (e.g. writes a recovery lost):

    store.add_reporting_days(inc.id, [date(2026, 2, 13)], "lost-transactions",
                             branches=["branch-1"])   # also on a closed incident
    store.confirm_reentry(inc.id, "branch-1", important_only=False, actor=...)
    inc.aftermath                           # records.Aftermath: days, branches, re-entry
"""

from orchestrator.incidents.records import Incident, NoticeRecord
from orchestrator.incidents.rules import Scope, assess_grade
from orchestrator.incidents.store import IncidentStore

__all__ = ["Incident", "IncidentStore", "NoticeRecord", "Scope", "assess_grade"]
