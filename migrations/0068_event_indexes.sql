-- Tracked events (issue 19), fewer index writes per event: the retention sweep now deletes by
-- `occurred_at` (through events_by_occurred, which the export reads by anyway; an event older
-- than the ingestion window is refused, so occurred and received differ by minutes at most), so
-- events_by_received goes; events_by_member holds only the events that have a member (most
-- tracked events are anonymous, and the member's history is all it is read for).
-- Shared by SQLite and PostgreSQL.
DROP INDEX events_by_received;
DROP INDEX events_by_member;
CREATE INDEX events_by_member ON events (member_id) WHERE member_id IS NOT NULL;
