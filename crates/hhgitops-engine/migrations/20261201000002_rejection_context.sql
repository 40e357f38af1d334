-- What a rejection depended on besides the file's content (the managed state, the other raw files, the settings
-- including the file-size limit, the validator's version): a digest compared on every run, and the cause of the
-- rejection. A rejection recorded before this column existed has an empty digest and is validated once more.
ALTER TABLE rejections ADD COLUMN context TEXT NOT NULL DEFAULT '';
ALTER TABLE rejections ADD COLUMN cause TEXT NOT NULL DEFAULT '';
