"""What every web request uses, for the API and the pages alike: the request's database session and store, the error a view raises, streaming downloads."""
