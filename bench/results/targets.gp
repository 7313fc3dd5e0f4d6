t_floor = 2.8332
t_bridge = 4.4267
t_cost = 56.00
t_nat = 1.6834
