-- The store bus (issue 4): Mosquitto password entries, device presence, applied bus messages,
-- used exit passes and device faults.

-- The device's Mosquitto password-file entry (`$7$` PBKDF2-SHA512 of its credential), made when
-- the credential is issued; NULL for devices registered before this migration.
ALTER TABLE devices ADD COLUMN mqtt_password TEXT;

-- Latest presence and health per device (from its retained status topic).
CREATE TABLE device_presence (
    device_id   TEXT PRIMARY KEY REFERENCES devices (id),
    location_id TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('online', 'offline')),
    version     TEXT,
    health      TEXT NOT NULL,
    reported_at BIGINT NOT NULL,
    received_at BIGINT NOT NULL
);

-- Every device message applied, by its message id (de-duplication).
CREATE TABLE bus_messages (
    message_id  TEXT PRIMARY KEY,
    device_id   TEXT NOT NULL,
    kind        TEXT NOT NULL,
    received_at BIGINT NOT NULL
);

-- Exit passes used at a store's gates (single use across the store).
CREATE TABLE exit_passes_used (
    session_id  TEXT PRIMARY KEY,
    location_id TEXT NOT NULL,
    device_id   TEXT NOT NULL,
    gate        TEXT NOT NULL,
    decision    TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    used_at     BIGINT NOT NULL,
    recorded_at BIGINT NOT NULL
);

-- Device faults reported over the bus (printers).
CREATE TABLE device_faults (
    message_id  TEXT PRIMARY KEY,
    device_id   TEXT NOT NULL,
    location_id TEXT NOT NULL,
    component   TEXT NOT NULL,
    fault       TEXT NOT NULL,
    reported_at BIGINT NOT NULL
);
CREATE INDEX device_faults_by_location ON device_faults (location_id, reported_at);
