"""Ensemble members: each implements fit and predict only (see ``base``)."""
