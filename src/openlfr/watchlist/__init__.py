"""Watchlists: enrolment, galleries and 1:N search."""

from openlfr.watchlist.folder import EnrolmentReport, face_crop, load_watchlist_folder
from openlfr.watchlist.gallery import Candidate, Gallery

__all__ = ["Candidate", "EnrolmentReport", "Gallery", "face_crop", "load_watchlist_folder"]
