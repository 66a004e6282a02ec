-- Edge agent gaps (issue 4): commands sent to a store's edge agent through the HTTP API with the
-- agent's acknowledgement, and shelf locations per SKU per store (printed on pick slips).

-- A command for one device, sent over the store bus; `id` is the client's id and the MQTT
-- message id (the agent executes each once). `command` is the JSON sent.
CREATE TABLE device_commands (
    id           TEXT PRIMARY KEY,
    device_id    TEXT NOT NULL REFERENCES devices (id),
    location_id  TEXT NOT NULL REFERENCES locations (id),
    kind         TEXT NOT NULL,
    command      TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('sent', 'done', 'failed')),
    detail       TEXT,
    requested_by TEXT NOT NULL,
    requested_at BIGINT NOT NULL,
    acked_at     BIGINT
);
CREATE INDEX device_commands_by_location ON device_commands (location_id, requested_at);

-- Where a SKU sits in a store, e.g. `A3-02` (aisle, bay, shelf: free text).
CREATE TABLE shelf_locations (
    location_id TEXT NOT NULL REFERENCES locations (id),
    sku_id      TEXT NOT NULL REFERENCES skus (id),
    shelf       TEXT NOT NULL,
    updated_by  TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (location_id, sku_id)
);
