t_floor = 2.8508
t_bridge = 4.4434
t_cost = 54.00
t_nat = 1.7308
