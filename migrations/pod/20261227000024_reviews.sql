-- Product reviews (the `reviews` context, issue 17 part 5).
--
-- A customer with a delivered line of a product reviews it once: 1 to 5
-- stars, a title and a body. Reviews start `pending`; staff moderate them:
--   pending -> published | rejected,  published <-> rejected
-- (reviews::model::allowed in Rust; the trigger below refuses a review
-- going back to pending, the one move no API makes). Only published
-- reviews are shown to shoppers and counted.
--
-- Every table leads with store_id and carries the move capture trigger, so
-- reviews and ratings move with their store.
CREATE TABLE reviews (
    store_id      uuid NOT NULL,
    id            uuid NOT NULL,
    product_id    uuid NOT NULL,
    customer_id   uuid NOT NULL,
    -- The delivered order that made the customer eligible.
    order_id      uuid NOT NULL,
    rating        smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
    title         text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    body          text NOT NULL DEFAULT '' CHECK (length(body) <= 5000),
    -- What shoppers see as the author ("Ada L."), taken when it is written.
    author_name   text NOT NULL CHECK (length(author_name) BETWEEN 1 AND 120),
    status        text NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'published', 'rejected')),
    -- The store's public answer, shown under a published review.
    reply         text CHECK (length(reply) BETWEEN 1 AND 5000),
    replied_at    timestamptz,
    moderated_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, id),
    -- Once per customer and product, whatever became of the first review
    -- (a rejected one is not written again; staff may delete it).
    CONSTRAINT reviews_once_per_customer UNIQUE (store_id, product_id, customer_id),
    CONSTRAINT reviews_reply_with_time CHECK ((reply IS NULL) = (replied_at IS NULL)),
    -- Named: a product deleted while its review is written is a 404
    -- (pod/src/error.rs).
    CONSTRAINT reviews_product_fkey FOREIGN KEY (store_id, product_id)
        REFERENCES products (store_id, id) ON DELETE CASCADE,
    FOREIGN KEY (store_id, order_id) REFERENCES orders (store_id, id)
);

-- A product's published reviews, newest first (ids are UUIDv7).
CREATE INDEX reviews_published ON reviews (store_id, product_id, id)
    WHERE status = 'published';
-- Staff's moderation queue and lists by status.
CREATE INDEX reviews_by_status ON reviews (store_id, status, id);

SELECT move_capture.install('reviews');

CREATE FUNCTION reviews_refuse_back_to_pending() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = 'pending' AND OLD.status <> 'pending' THEN
        RAISE EXCEPTION 'review % cannot go from % to pending', OLD.id, OLD.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'reviews_status_transition';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER reviews_status_transition BEFORE UPDATE OF status ON reviews
    FOR EACH ROW EXECUTE FUNCTION reviews_refuse_back_to_pending();

-- Per product, its published reviews by stars. Written only by the
-- reviews context, in the transaction that publishes, rejects or deletes a
-- review (reviews::model::Histogram::delta gives the change), so product
-- reads and search never count rows. A product without a row has none.
CREATE TABLE product_ratings (
    store_id    uuid NOT NULL,
    product_id  uuid NOT NULL,
    stars_1     bigint NOT NULL DEFAULT 0 CHECK (stars_1 >= 0),
    stars_2     bigint NOT NULL DEFAULT 0 CHECK (stars_2 >= 0),
    stars_3     bigint NOT NULL DEFAULT 0 CHECK (stars_3 >= 0),
    stars_4     bigint NOT NULL DEFAULT 0 CHECK (stars_4 >= 0),
    stars_5     bigint NOT NULL DEFAULT 0 CHECK (stars_5 >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, product_id),
    FOREIGN KEY (store_id, product_id) REFERENCES products (store_id, id) ON DELETE CASCADE
);

SELECT move_capture.install('product_ratings');

-- The average rating in hundredths, rounded half up (4.333... -> 433), of
-- `n` ratings summing to `total`; 0 without ratings. The same rule as
-- reviews::model::average_centi (a test holds the two to each other).
CREATE FUNCTION rating_centi(total bigint, n bigint) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN n > 0 THEN ((200 * total + n) / (2 * n))::integer ELSE 0 END
$$;

-- Search: each document carries its product's published rating, written by
-- search::reindex from product_ratings like units_sold from product_sales.
-- `rating_key` orders by average, then count: the average in hundredths
-- above 32 bits of the count (a product without reviews has 0), so one
-- index serves `sort=rating` and `min_rating` (a lower bound on the key).
ALTER TABLE search_documents
    ADD COLUMN rating_count  bigint NOT NULL DEFAULT 0,
    ADD COLUMN rating_centi  integer NOT NULL DEFAULT 0,
    ADD COLUMN rating_key    bigint GENERATED ALWAYS AS
        (rating_centi::bigint * 4294967296 + least(rating_count, 4294967295)) STORED;

CREATE INDEX search_documents_rating ON search_documents
    (store_id, rating_key, product_id) WHERE status = 'active';
