-- The storefront's theme per store (issue 19): the owner's settings
-- (colours, font, logo, home page sections, header and footer links) and
-- the templates the merchant overrides. Moved with the store like every
-- tenant table.

-- `themes::model::ThemeSettings` as JSON; a field it lacks reads as its
-- default. No row: the default theme as it ships.
CREATE TABLE theme_settings (
    store_id    uuid NOT NULL,
    settings    jsonb NOT NULL CHECK (jsonb_typeof(settings) = 'object'),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id)
);

SELECT move_capture.install('theme_settings');

-- A template of the default theme replaced by the merchant's own (Jinja
-- syntax; checked when saved; at most 64 KiB).
CREATE TABLE theme_templates (
    store_id    uuid NOT NULL,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    source      text NOT NULL CHECK (octet_length(source) <= 65536),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, name)
);

SELECT move_capture.install('theme_templates');
