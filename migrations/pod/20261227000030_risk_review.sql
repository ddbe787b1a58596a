-- Risk review (issue 18 part 3): a checkout the risk screen sends to review
-- waits in the saga state `review` (payment authorized, order placed, stock
-- pinned, nothing captured) until staff approve it (capture) or cancel it
-- (void, release); the recovery worker cancels one left undecided past
-- `checkout.review_window_secs`. The client address the shopper's request
-- came from is kept for the screen, which may run in a later driver.
ALTER TABLE checkouts DROP CONSTRAINT checkouts_state_check;
ALTER TABLE checkouts ADD CONSTRAINT checkouts_state_check CHECK (state IN
    ('started', 'reserved', 'authorized', 'ordered', 'review', 'completed', 'compensating',
     'failed'));
ALTER TABLE checkouts ADD COLUMN client_address text
    CHECK (length(client_address) BETWEEN 1 AND 64);

-- Staff's review queue: the store's checkouts waiting for a decision.
CREATE INDEX checkouts_in_review ON checkouts (store_id, updated_at) WHERE state = 'review';
