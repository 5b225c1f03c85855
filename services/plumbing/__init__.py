"""What every web request uses, for the API and the pages alike: its database session and store,
the error a view raises, streaming downloads."""
