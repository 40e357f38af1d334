-- Who a run ran for (the server's token name, or `watcher`); NULL for runs from the command line.
ALTER TABLE runs ADD COLUMN actor TEXT;
