def test_import() -> None:
    import cercle.protocol
    import cercle.storage

    assert cercle.protocol.__doc__ and cercle.storage.__doc__
