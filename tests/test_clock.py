from fractions import Fraction

import pytest

from mmfuse.clock import WindowGrid, pts_to_us, seconds_to_us, us_to_pts


@pytest.mark.parametrize(
    "pts, tb, origin, expected",
    [
        (0, Fraction(1, 25000), 0, 0),
        (1001, Fraction(1, 30000), 0, 33367),  # 33366.67 rounds up
        (3, Fraction(1, 48000), 0, 63),  # 62.5 µs: half rounds up
        (90000, Fraction(1, 90000), 0, 1_000_000),
        (126000, Fraction(1, 90000), 1_400_000, 0),  # MPEG-TS style start at 1.4 s
        (-1024, Fraction(1, 44100), 0, -23220),
    ],
)
def test_pts_to_us_is_exact_and_rounded_once(pts, tb, origin, expected):
    assert pts_to_us(pts, tb, origin) == expected


def test_pts_to_us_never_accumulates_float_error():
    tb = Fraction(1001, 30000)  # NTSC frame duration
    assert pts_to_us(30000, tb) == 1_001_000_000  # frame 30000 of 29.97 fps: exactly 1001 s
    assert pts_to_us(107892, tb) == 3_599_996_400
    assert pts_to_us(107891, tb) == 3_599_963_033  # 3599963033.3…


def test_pts_to_us_rejects_missing_timestamp():
    with pytest.raises(ValueError, match="no PTS"):
        pts_to_us(None, Fraction(1, 1000))


def test_us_to_pts_is_at_or_before():
    tb = Fraction(1, 30)
    assert us_to_pts(1_000_000, tb) == 30
    assert us_to_pts(1_010_000, tb) == 30
    assert pts_to_us(us_to_pts(2_345_678, tb), tb) <= 2_345_678


def test_seconds_to_us_reads_decimals_exactly():
    assert seconds_to_us(0.1) == 100_000
    assert seconds_to_us("2.5") == 2_500_000
    assert seconds_to_us(1) == 1_000_000
    with pytest.raises(ValueError, match="whole number of microseconds"):
        seconds_to_us("0.0000001")


def test_grid_bounds_are_half_open():
    g = WindowGrid.from_seconds(1.0, 0.5)
    assert g.bounds(0) == (0, 1_000_000)
    assert g.bounds(3) == (1_500_000, 2_500_000)


@pytest.mark.parametrize(
    "t, expected",
    [
        (0, [0]),
        (499_999, [0]),
        (500_000, [0, 1]),
        (999_999, [0, 1]),
        (1_000_000, [1, 2]),  # window 0 ends at 1 s, exclusive
        (-1, []),
    ],
)
def test_containing_with_overlapping_windows(t, expected):
    g = WindowGrid.from_seconds(1.0, 0.5)
    assert list(g.containing(t)) == expected


def test_containing_with_gaps_between_windows():
    g = WindowGrid.from_seconds(0.5, 1.0)  # windows [0, .5), [1, 1.5), …
    assert list(g.containing(700_000)) == []
    assert list(g.containing(1_200_000)) == [1]


@pytest.mark.parametrize(
    "start, end, expected",
    [
        (0, 1_000_000, [0]),  # exactly one window; the next starts at its end
        (500_000, 2_500_000, [0, 1, 2]),  # spans three windows
        (1_000_000, 1_000_000, [1]),  # an instant on a boundary belongs to the later window
        (999_999, 1_000_001, [0, 1]),
        (-2_000_000, -1_000_000, []),
    ],
)
def test_overlapping(start, end, expected):
    g = WindowGrid.from_seconds(1.0, 1.0)
    assert list(g.overlapping(start, end)) == expected


def test_count_and_starting_in():
    g = WindowGrid.from_seconds(1.0, 1.0)
    assert g.count(0) == 0
    assert g.count(8_000_000) == 8
    assert g.count(8_000_001) == 9
    assert list(g.starting_in(0, 3_000_000)) == [0, 1, 2]
    assert list(g.starting_in(2_500_000, 4_000_000)) == [3]


def test_grid_rejects_non_positive():
    with pytest.raises(ValueError, match="positive"):
        WindowGrid(0, 1)
