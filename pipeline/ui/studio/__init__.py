"""The studio: a local web page to paint masks, preview the fill, run the batch and review it.

`files` keeps every read and write inside the chosen folder and its output, `security` checks
the Host header and the session token, `manifest` writes the masks' manifest, `jobs` runs
previews and the batch in the background, `app` holds the routes and `server` binds and serves.
"""
