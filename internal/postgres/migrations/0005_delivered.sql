-- Each transaction in its delivered form (internal/filter Policy.Deliver), made by `dsop-bank
-- import` under the field policy whose fingerprint dsop_settings.delivery_policy holds: the JSON
-- that leaves and the fields it delivers (filter.FieldSet, 32 hex digits). A page is these bytes
-- spliced, with no decode or encode of the history (issue #15). delivered is NULL when the policy
-- delivers none of the transaction; delivered_fields is NULL when no form was made (data imported
-- before this migration): the server then builds pages from doc.
ALTER TABLE transactions ADD COLUMN IF NOT EXISTS delivered json;
ALTER TABLE transactions ADD COLUMN IF NOT EXISTS delivered_fields text;
