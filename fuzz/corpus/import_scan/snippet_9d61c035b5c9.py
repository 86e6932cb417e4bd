match x:
    case 1:
        import in_case
    case _:
        from other import thing