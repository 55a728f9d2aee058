-- The event object of the bench's purchase lines, for the Fluent Bit reference (fluent-bit.conf).
-- The id is a UUIDv4-shaped string built from the order number, unique per line of gen_purchases.py's
-- data; the agent derives its ids with SHA-256 (docs/reference.md), which Fluent Bit's Lua does not have.
function to_event(tag, timestamp, record)
    local n = tonumber(string.match(record["order_id"] or "", "%d+")) or 0
    local id = string.format("%08x-0000-4000-8000-%012x", 0, n)
    local event = {
        event_name = record["event"],
        event_datetime = record["ts"],
        installation_id = record["install_id"],
        event_id = id,
        payload = {
            order_id = record["order_id"],
            currency = record["currency"],
            amount = record["amount"],
            sku = record["sku"],
        },
    }
    return 1, timestamp, event
end
