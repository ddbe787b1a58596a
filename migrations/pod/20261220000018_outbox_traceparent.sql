-- The W3C trace context (`traceparent`) of the work that recorded an event,
-- so the relay sends it on as the Kafka message's `traceparent` header and
-- a consumer's spans join the trace of the request that made the event.
-- NULL: recorded outside a trace (no tracing layer), and rows from before.
ALTER TABLE outbox ADD COLUMN traceparent text
    CHECK (traceparent IS NULL OR length(traceparent) = 55);
