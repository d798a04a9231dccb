"""Uplift: find the customers a campaign *changes*, learned from a randomised control group."""

from lib.models.uplift.train import *  # noqa: F403  (the move alone; the next commit splits it by concept)
