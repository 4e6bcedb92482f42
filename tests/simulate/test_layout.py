import numpy as np

from bayes_hcl.simulate.layout import ColumnOrder, data_frame


def test_column_order_moves_positions_to_their_columns():
    order = ColumnOrder.draw(4, "X", np.random.default_rng(0))
    graphs = np.zeros((1, 4, 4))
    graphs[0, 0, 1] = 1.0  # position 0 -> position 1
    moved = order.graphs(graphs)
    cause, effect = (int(i) for i in np.argwhere(moved[0])[0])
    assert (order.columns[cause], order.columns[effect]) == order.names([0, 1])
    vectors = order.vectors(np.arange(4.0)[None])
    assert [vectors[0, order.perm[p]] for p in range(4)] == [0.0, 1.0, 2.0, 3.0]
    assert order.types(["a", "b", "c", "d"])[order.perm[2]] == "c"


def test_data_frame_writes_levels_as_letters_and_counts_as_integers():
    frame = data_frame(
        np.array([[0.5, 1.0, 2.0, 1.0]]),
        ["A", "B", "C", "D"],
        ["continuous", "binary", "categorical", "count"],
    )
    assert frame.iloc[0].tolist() == [0.5, 1, "c", 1]
    assert [str(frame[c].dtype) for c in "ABD"] == ["float64", "int64", "int64"]
